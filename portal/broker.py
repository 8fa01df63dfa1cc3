"""The embedded default's broker: kombu's file transport, with every message made visible whole.

kombu's file transport (5.x) creates a message file under its final name and then writes into it. A
worker polling the folder in between moves the still-empty file away, fails to decode it and stops
(celery/kombu#1551): the message is lost and the worker is gone. Here a message is written under a
name the reader ignores and renamed into place, which within one folder is atomic, so a reader sees
a whole message or none.
"""

import contextlib
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: dict, **kwargs) -> None:
        # The same name as kombu's, so ordering and the reader's queue match are unchanged.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        # A leading dot and no ".msg": the reader matches "<anything>.<queue>.msg" only.
        partial = os.path.join(self.data_folder_out, f".partial-{uuid.uuid4().hex}")
        try:
            with open(partial, "xb") as sink:
                sink.write(str_to_bytes(dumps(payload)))
            os.replace(partial, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise ChannelError(f"Cannot add a message to {self.data_folder_out!r}") from exc


class Transport(filesystem.Transport):
    Channel = Channel
