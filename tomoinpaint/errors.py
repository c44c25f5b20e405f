"""Errors the library raises about its callers' options, naming them as the caller knows them.

A library function names its own parameters (``tilt_min``, ``workers``); the
command line names its flags (``--tilt-min``, ``--workers``). An
:class:`OptionError` keeps the names apart from the sentence, so each caller
shows the names it uses: ``str(exc)`` gives the parameter names,
:meth:`OptionError.render` any others.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["OptionError"]


class OptionError(ValueError):
    """A bad value or combination of options, with the options' names kept apart.

    Parameters
    ----------
    template : str
        The message, with ``{name}`` where an option's name goes (literal
        braces doubled).
    *options : str
        The parameter names the template refers to.
    usage : bool
        A bad option or combination (the CLI's usage error, exit status 2);
        False for a problem with the data or the environment that an option
        can fix (exit status 1).

    Examples
    --------
    >>> e = OptionError("give either {wedge} or {tilt_min}, not both", "wedge", "tilt_min")
    >>> str(e)
    'give either wedge or tilt_min, not both'
    >>> e.render(lambda name: "--" + name.replace("_", "-"))
    'give either --wedge or --tilt-min, not both'
    """

    def __init__(self, template: str, *options: str, usage: bool = True):
        self.template = template
        self.options = tuple(options)
        self.usage = usage
        super().__init__(self.render(str))

    def render(self, name: Callable[[str], str]) -> str:
        """The message with each option shown as ``name(option)``."""
        return self.template.format(**{o: name(o) for o in self.options})

    def __str__(self) -> str:
        return self.render(str)
