"""Chat exports (WhatsApp, Telegram, Discord, Messenger and Instagram, Slack) read into messages.

One module per exporter turns its file into `ChatLog`s of `Message`s (`model.py`); `detect.py`
recognises a file by its content as well as its name, zips included, and `read_chats` is the one
entry point the ingestor calls. What is not writing (media, system lines, deleted and forwarded
messages, bare links, one-character replies) is dropped here and counted per reason.
"""

from slmtui.ingest.chats.detect import read_chats
from slmtui.ingest.chats.model import ChatExport, ChatLog, Message

__all__ = ["ChatExport", "ChatLog", "Message", "read_chats"]
