"""The one reader of ranges and lists on the command line, with one set of messages.

* :func:`parse_range` - ``A:B``, a half-open range of channels or units, ``0 <= A < B`` (``<= upper``);
* :func:`parse_list` - ``a,b,c``: comma-separated items, blanks around them dropped, none empty;
* :func:`parse_ints` - ``3,17,40``: a list of whole numbers (``>= 0``);
* :func:`parse_groups` - ``kind:a,b|kind:c``: kinds each with their values (the defenses of
  ``leakage`` and ``gradient-leakage``), the values left to the caller to read.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from .errors import ConfigError


def parse_range(text: str, option: str, upper: Optional[int] = None) -> Tuple[int, int]:
    """``"A:B"`` -> ``(A, B)`` with ``0 <= A < B`` (and ``B <= upper``), or one clear error."""
    bound = f" <= {upper}" if upper is not None else ""
    try:
        a, b = (int(v) for v in text.split(":"))
    except ValueError:
        raise ConfigError(f"{option} must look like A:B with 0 <= A < B{bound} (e.g. 0:8), got {text!r}") from None
    if not 0 <= a < b or (upper is not None and b > upper):
        raise ConfigError(f"{option} {text} is out of range: it needs 0 <= A < B{bound}")
    return a, b


def parse_list(text: str, option: str) -> List[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; a list with no item, or an empty item, is refused."""
    items = [v.strip() for v in text.split(",")]
    if not any(items):
        raise ConfigError(f"{option} names nothing; give a comma-separated list")
    if not all(items):
        raise ConfigError(f"{option} {text!r} has an empty item; give a comma-separated list without blanks")
    return items


def parse_ints(text: str, option: str) -> List[int]:
    """``"3,17,40"`` -> ``[3, 17, 40]``: whole numbers >= 0."""
    out = []
    for v in parse_list(text, option):
        try:
            n = int(v)
        except ValueError:
            raise ConfigError(f"{option} must be whole numbers separated by commas, got {v!r} in {text!r}") from None
        if n < 0:
            raise ConfigError(f"{option} must be 0 or more, got {n}")
        out.append(n)
    return out


def parse_groups(text: str, option: str, kinds: Tuple[str, ...], valid: str, examples: Dict[str, str],
                 key: Callable[[str], str] = str.strip) -> List[Tuple[str, List[str]]]:
    """``"noise:0.1,0.3|quantize:4"`` -> ``[("noise", ["0.1", "0.3"]), ("quantize", ["4"])]``: each
    ``|``-separated group a kind (read by ``key``; one of ``kinds``, else an error listing ``valid``)
    and its comma-separated values (at least one; ``examples[kind]`` shows some), stripped."""
    out: List[Tuple[str, List[str]]] = []
    for part in filter(None, (p.strip() for p in (text or "").split("|"))):
        name, sep, values = part.partition(":")
        kind = key(name)
        if kind not in kinds:
            raise ConfigError(f"unknown defense {kind!r} in {option}; valid: {valid}")
        if not sep or not values.strip():
            raise ConfigError(f"{option} {kind} needs strengths, e.g. {kind}:{examples[kind]}")
        out.append((kind, [v.strip() for v in values.split(",")]))
    return out
