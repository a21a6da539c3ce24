"""Action attributes shared by the modules."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: "Honours C(--check): reports what would change and touches nothing."
    support: full
  diff_mode:
    description: With C(--diff), returns one before/after entry per object it changes or would change.
    support: full
  platform:
    description: Where the module runs.
    support: N/A
    platforms: posix
"""
