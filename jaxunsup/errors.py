"""The one error type that means "the user asked for something we cannot do"."""


class UsageError(Exception):
  """Bad input from the user: reported as one line on stderr with exit code 2."""
