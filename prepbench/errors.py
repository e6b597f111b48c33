"""The one exception type that reaches users as a single line, without a traceback, and how any
bad-input error (ours or Hydra's) becomes that line."""


class PrepbenchError(Exception):
    """Bad input or an impossible request. The message names the bad value and what was expected."""


def one_line(err: BaseException) -> str:
    """A bad-input error as one line that names the bad value and what was expected."""
    from hydra.errors import MissingConfigException

    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options:
        group, _, name = err.missing_cfg_file.rpartition("/")
        return f"{group}={name} is unknown; expected one of {', '.join(err.options)}"
    lines = [line.strip() for line in str(err).splitlines()]
    # Hydra adds the config search path and OmegaConf's object details: context, not the message.
    if "Config search path:" in lines:
        lines = lines[: lines.index("Config search path:")]
    if err.__cause__ is not None and str(err.__cause__).strip():  # OmegaConf's reason, as Hydra prints it
        lines.append(str(err.__cause__).strip().splitlines()[0].strip())
    return " ".join(line for line in lines if line and not line.startswith(("full_key:", "object_type=")))
