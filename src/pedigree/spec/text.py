"""What a name, path or command string must not hide: checks shared by the spec and compilers.

A string holding a control or invisible character is not what it looks like; one holding DVC's
`${` or Argo's `{{` is rewritten by the tool that reads it. These checks raise SpecValueError,
which the spec's located errors carry with its hint.
"""

from __future__ import annotations

import unicodedata

# DVC replaces `${...}` in every string of dvc.yaml (cmd, deps, outs, params) with values from
# params.yaml before the shell sees the command: a quoted argv item is no protection.
DVC_INTERPOLATION = "${"
# Argo evaluates `{{...}}` in the strings of a WorkflowTemplate.
ARGO_EXPRESSION = "{{"
PARAMS_HINT = (
    "let the stage read its parameters from params.yaml "
    "(e.g. cmd: [python, -m, stages.NAME, --params, params.yaml]) and list the sections "
    "under 'params:'"
)
# Control characters (C0, DEL, C1), invisible format characters (bidi overrides, zero-width)
# and Unicode line breaks: a name or path holding one is not what it looks like.
HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})
LINE_BREAKS = frozenset({"Cc", "Zl", "Zp"})


class SpecValueError(ValueError):
    """A field's value is invalid; `hint` says how to fix it (shown with the located problem)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


_CONTROL_NAMES = {"\0": "NUL", "\t": "tab", "\n": "newline", "\r": "carriage return", "\x7f": "DEL"}


def _char_name(char: str) -> str:
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def hidden_char(value: str, categories: frozenset[str] = HIDDEN, allow: str = "") -> str | None:
    """The first character of `value` in the Unicode `categories` (not in `allow`), if any."""
    for char in value:
        if char not in allow and unicodedata.category(char) in categories:
            return char
    return None


def refuse_hidden(
    value: str, what: str, categories: frozenset[str] = HIDDEN, allow: str = ""
) -> None:
    """SpecValueError when `value` holds a control or invisible character."""
    char = hidden_char(value, categories, allow)
    if char is not None:
        raise SpecValueError(
            f"{what} {value!r} contains the control or invisible character {_char_name(char)}: "
            "names, paths and commands must be exactly what they look like",
            "remove the character",
        )


def refuse_interpolation(value: str, what: str, hint: str) -> None:
    """SpecValueError when `value` holds DVC's `${`: DVC would substitute it in dvc.yaml."""
    if DVC_INTERPOLATION in value:
        raise SpecValueError(
            f"{what} {value!r} contains '${{': DVC would replace ${{...}} with a value from "
            "params.yaml when it reads dvc.yaml, before the command runs",
            hint,
        )


def refuse_argo_expression(value: str, what: str) -> None:
    """SpecValueError when `value` holds Argo's `{{`: Argo would evaluate it."""
    if ARGO_EXPRESSION in value:
        raise SpecValueError(
            f"{what} {value!r} contains '{{{{': Argo would evaluate {{{{...}}}} as an "
            "expression in the WorkflowTemplate",
            "write the value literally, without '{{'",
        )
