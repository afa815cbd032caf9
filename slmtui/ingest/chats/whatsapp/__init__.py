"""WhatsApp "Export chat" text files, as Android and iOS write them in every locale.

`layout.py` finds a file's header layout from evidence across the whole file (a file is a chat
only when enough of its lines are headers of one layout), `dates.py` decides its date order,
`lines.py` knows the system, call, media and deleted lines, and `reader.py` reads the messages.
"""

from slmtui.ingest.chats.whatsapp.layout import Evidence, survey
from slmtui.ingest.chats.whatsapp.reader import FORMAT, Known, chat_name, read

__all__ = ["FORMAT", "Evidence", "Known", "chat_name", "read", "survey"]
