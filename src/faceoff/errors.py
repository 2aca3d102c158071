"""The one base class of the failures a user can cause and fix (settings, missing files, data).

The ``faceoff`` command prints such an error as a single ``faceoff: error: ...`` line (exit
status 2) instead of a traceback; anything else that escapes is a bug and keeps its traceback.
Every module raising a user error derives its exception from :class:`FaceoffError`, so the
command catches them in one place.
"""


class FaceoffError(Exception):
    """A failure the user can fix; the message names the file or key and what to do."""
