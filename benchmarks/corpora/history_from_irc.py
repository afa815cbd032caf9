"""Rebuild the large real chat history the sweep measures on (it is not kept in the repository).

The #duraspace IRC channel's logs, 2009-2018, are published by DuraSpace under CC BY 4.0 in the
public repository `duraspace/irclogs` (the DSpace and Fedora developer communities' discussions
and weekly meetings). This turns the years asked for into one DiscordChatExporter JSON file, a
layout slmtui reads, with one person as the owner: by default `tdonohue`, who wrote about a
quarter of the channel. Joins, quits, topic changes and server notices are left out, as a chat
exporter would; everything else is kept as it was written.

Run:  git clone https://github.com/duraspace/irclogs /tmp/irclogs
      python benchmarks/corpora/history_from_irc.py /tmp/irclogs/original-logs OUT_WORKSPACE/writing
      (then set `[identity] names = ["tdonohue"]` in OUT_WORKSPACE/slmtui.toml)

2013 to 2015 give 26,951 messages (tdonohue's: about 6,700 of them).
"""

from __future__ import annotations

import argparse
import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

LINE = re.compile(
    r'\[(\d+):(\d+)\]</span> <span class="[^"]+">&lt;([^&\s]+)&gt; (.*)</span><br />\s*$'
)
TAG = re.compile(r"<[^>]+>")


def messages_of(log: Path) -> list[dict]:
    """One day's messages as DiscordChatExporter writes them (times in UTC)."""
    day = datetime.strptime(log.stem, "%Y-%m-%d").replace(tzinfo=UTC)
    found = []
    for raw in log.read_text(encoding="latin-1").splitlines():
        match = LINE.search(raw)
        if not match:
            continue
        hour, minute, sender, text = match.groups()
        stamp = day.replace(hour=int(hour), minute=int(minute))
        content = html.unescape(TAG.sub("", text)).strip()
        if not content:
            continue
        found.append(
            {
                "id": str(len(found)),
                "type": "Default",
                "timestamp": stamp.isoformat(),
                "content": content,
                "author": {"id": sender, "name": sender, "nickname": sender},
                "attachments": [],
            }
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", type=Path, help="the original-logs folder of duraspace/irclogs")
    parser.add_argument("out", type=Path, help="the folder to write duraspace.json into")
    parser.add_argument("--years", default="2013-2015", help="first-last year, inclusive")
    args = parser.parse_args()
    first, last = (int(year) for year in args.years.split("-"))
    messages = []
    for log in sorted(args.logs.glob("*.log")):
        if first <= int(log.stem[:4]) <= last:
            messages += messages_of(log)
    for index, message in enumerate(messages):
        message["id"] = str(index)
    args.out.mkdir(parents=True, exist_ok=True)
    export = {
        "guild": {"id": "0", "name": "DuraSpace"},
        "channel": {"id": "duraspace", "name": "duraspace", "type": "GuildTextChat"},
        "messages": messages,
    }
    target = args.out / "duraspace.json"
    target.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    print(f"{len(messages):,} messages -> {target}")


if __name__ == "__main__":
    main()
