"""The one exception family of zerotrust.microseg.

Messages say where, then what: ``flows/hipstershop.md:14: port: "70x0" is not a port or range``.
Only the Ansible face turns these into ``fail_json``; the core raises them.
"""


class MicrosegError(Exception):
    """Base of every error the core raises on purpose."""


class InputError(MicrosegError):
    """Bad user input: names the file (or variable), the line and the field at fault."""

    def __init__(self, message, source=None, line=None, field=None):
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def __str__(self):
        where = ""
        if self.source:
            where = str(self.source)
            if self.line is not None:
                where += ":%s" % self.line
            where += ": "
        elif self.line is not None:
            where = "line %s: " % self.line
        if self.field:
            where += "%s: " % self.field
        return where + self.message


class TargetError(MicrosegError):
    """The target (directory or cluster) could not be read or written."""


class GateRefused(MicrosegError):
    """The enforce gate found flows the policy set would deny."""

    def __init__(self, message, denied=None):
        self.denied = list(denied or [])
        super().__init__(message)
