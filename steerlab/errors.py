"""User-facing errors: printed as one line by the CLI, before expensive work where possible."""


class SteerlabError(Exception):
    """Base class for errors caused by the user's input rather than a bug."""


class ConfigError(SteerlabError):
    """A config value is out of range or inconsistent with the model or method."""


class DataError(SteerlabError):
    """A data file is missing or malformed."""


class TrainingError(SteerlabError):
    """Training diverged (NaN/inf loss) or cannot continue."""
