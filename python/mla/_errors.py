"""The exception a failed libmla call raises, and the check that raises it."""
from . import _cabi as c
from ._library import library


class MlaError(RuntimeError):
    """A libmla call returned a non-zero mla_status.

    Attributes: status (the int code), status_string (mla_status_string) and detail
    (mla_last_error: names the argument at fault), function (the C function called).
    """

    def __init__(self, function, status, status_string, detail):
        self.function = function
        self.status = status
        self.status_string = status_string
        self.detail = detail
        super().__init__(f"{function}: {status_string} ({status}): {detail}")


def _text(ptr):
    return ptr.decode("utf-8", "replace") if ptr else ""


def check(function, status):
    """Raises MlaError for a non-zero status; reads mla_last_error on this same thread."""
    if status == c.STATUS_SUCCESS:
        return
    lib = library()
    raise MlaError(function, int(status), _text(lib.mla_status_string(status)),
                   _text(lib.mla_last_error()))


def call(function, *args):
    """Calls a libmla function by name and raises MlaError if it fails."""
    check(function, library().function(function)(*args))
