"""A local SMTP sink for `make run` (aiosmtpd): keeps each mail as a .eml file, prints one line per mail."""

from __future__ import annotations

import os
import time
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MaildirSink:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        data = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        name = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns()}.eml"
        name.write_bytes(data)
        subject = message_from_bytes(data, policy=default).get("Subject", "")
        print(f"dev-smtp: mail to {len(envelope.rcpt_tos)} recipient(s): {subject!s} -> {name}", flush=True)
        return "250 Message accepted for delivery"


def main() -> None:
    port = int(os.environ.get("SCIMHUB_DEV_SMTP_PORT", "8025"))
    folder = Path(os.environ.get("SCIMHUB_DEV_MAILDIR", ".run/mail"))
    controller = Controller(MaildirSink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"dev-smtp: listening on 127.0.0.1:{port}, keeping mails in {folder}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
