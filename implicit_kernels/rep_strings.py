"""Reps from strings, for the command line.

Syntax: a sum of terms separated by ``+``, each an optional multiplicity ``k*`` and an atom:

=====================  =====================================================  ==================
atom                   rep                                                    families
=====================  =====================================================  ==================
``trivial``            the trivial rep                                        all
``standard``           the defining rep on ``R^n``                            all
``dual(ATOM)``         the dual of an atom                                    all
``irrep(i,j,..)``      ``G.irrep(i, j, ..)``, escnn's irrep id                compact (escnn)
``regular``            the regular rep                                        finite compact
``T(r,s)``             ``V^(x r) (x) V*^(x s)``                               matrix
``grade(k)``           the k-vectors                                          Clifford
``grades(a,b,..)``     one field holding several grades                       Clifford
``multivector``        the whole algebra                                      Clifford
=====================  =====================================================  ==================

Examples: ``"2*trivial+standard"``, ``"irrep(0,0)+irrep(1,1)"``, ``"T(1,0)+T(2,0)"``,
``"grade(1)+multivector"``.
"""

from __future__ import annotations

import re

from groups import Group, Rep

_TERM = re.compile(r"\s*(?:(\d+)\s*\*\s*)?(.+?)\s*")
_CALL = re.compile(r"([A-Za-z]+)\s*\((.*)\)")
_ATOMS = "trivial, standard, regular, multivector, dual(...), irrep(...), T(r,s), grade(k), grades(...)"


def _split_terms(text: str) -> list[str]:
    """Split on the ``+`` signs outside parentheses."""
    terms, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "+" and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _atom(group: Group, text: str) -> Rep:
    call = _CALL.fullmatch(text)
    name, args = (call.group(1), call.group(2)) if call else (text, None)
    try:
        if args is None and name in ("trivial", "standard", "regular", "multivector"):
            return getattr(group, name)
        if name == "dual" and args is not None:
            return _atom(group, args.strip()).dual()
        integers = [int(a) for a in args.split(",")] if args else []
        if name == "irrep":
            return group.irrep(*integers)
        if name == "T" and len(integers) == 2:
            return group.T(*integers)
        if name == "grade" and len(integers) == 1:
            return group.grade(integers[0])
        if name == "grades" and integers:
            return group.grades(*integers)
    except AttributeError:
        raise ValueError(f"{group.name} has no {name!r} reps ({type(group).__name__})") from None
    except (AssertionError, IndexError, KeyError, TypeError, ValueError) as error:
        # escnn checks irrep ids with bare asserts: no message to pass on
        reason = str(error) or f"{group.name} has no such rep ({type(error).__name__})"
        raise ValueError(f"bad rep atom {text!r} for {group.name}: {reason}") from None
    raise ValueError(f"unknown rep atom {text!r}; atoms are {_ATOMS}")


def parse_rep(group: Group, text: str) -> Rep:
    """The rep of ``group`` that ``text`` describes (see the module docstring). Every failure, an
    empty term, a zero multiplicity, an unknown atom or arguments the group refuses (e.g. an irrep
    id escnn does not know), is a ``ValueError`` naming the offending text."""
    parts = []
    for term in _split_terms(text):
        match = _TERM.fullmatch(term)
        if not term.strip() or match is None:
            raise ValueError(f"empty term in rep string {text!r}")
        multiplicity = int(match.group(1) or 1)
        if multiplicity < 1:
            raise ValueError(f"multiplicities must be positive, got {term.strip()!r} in rep string {text!r}")
        parts += [_atom(group, match.group(2))] * multiplicity
    return parts[0] if len(parts) == 1 else group.direct_sum(parts)
