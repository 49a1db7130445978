"""`${VAR}` / `${VAR:-default}` substitution in pipeline fields (never in commands).

Commands get the same values as environment variables and let the shell expand them, so a
value with quotes or `;` in it stays data. Everywhere else tuiflow substitutes here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_INSIDE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)(.*))?", re.DOTALL)


class SubstitutionError(ValueError):
    """A `${...}` that names an undefined variable or is malformed; the message says which."""


def has_reference(text: str) -> bool:
    return "${" in text


def substitute(text: str, scope: Mapping[str, str]) -> str:
    """`text` with every `${NAME}` replaced from `scope`.

    `${NAME:-default}` uses the default when NAME is unset or empty, `${NAME-default}` only when
    it is unset; `$${` is a literal `${`. An undefined NAME without default is an error, so a
    typo does not silently become an empty path.
    """
    if "${" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return "${"
        if whole == "${":
            raise SubstitutionError(f"'{text}': `${{` is not closed: write ${{NAME}} or ${{NAME:-default}}")
        inner = _INSIDE.fullmatch(match.group(1))
        if inner is None:
            raise SubstitutionError(f"'{whole}' is not a variable reference: write ${{NAME}} or ${{NAME:-default}}")
        name, op, default = inner.groups()
        value = scope.get(name)
        if op == ":-" and not value:
            return default
        if op == "-" and value is None:
            return default
        if value is None:
            raise SubstitutionError(f"${{{name}}} is not defined: set it in params or env, pass "
                                    f"--param {name}=..., or write ${{{name}:-default}}")
        return value

    return _REF.sub(replace, text)


def as_text(value: object) -> str:
    """A YAML scalar as the string a shell would see: `true`, `3`, `1.5`, `` for null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)
