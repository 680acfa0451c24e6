"""Kernel-network options: renamed keywords keep working with a DeprecationWarning and build the
same network as the new names; both names at once, or a name the family does not know, raise."""

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from groups import get_group
from groups.deprecation import renamed_keywords
from implicit_kernels import ImplicitKernel


@dataclass(frozen=True)
class Family:
    """One family's kernel network, built through :class:`ImplicitKernel` on ``rep -> rep`` with
    ``attr_scalars`` invariant attributes, and its renames ``old keyword -> (new keyword, a
    non-default value that changes the parameter count)``."""

    group: str
    rep: Callable
    basis: str
    attr_scalars: int
    renames: dict[str, tuple[str, int]]

    def build(self, seed: int = 0, **options) -> ImplicitKernel:
        G = get_group(self.group)
        rep = self.rep(G)
        attr = self.attr_scalars * G.trivial if self.attr_scalars else None
        torch.manual_seed(seed)
        return ImplicitKernel(rep, rep, attr, basis=self.basis, **options)

    def inputs(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        generator = torch.Generator().manual_seed(3)
        x = torch.randn(7, get_group(self.group).n, generator=generator)
        return x, torch.randn(7, self.attr_scalars, generator=generator) if self.attr_scalars else None


def mixed(G):
    """A scalar and three vectors: the Hom rep holds more copies of SO(2)'s frequency 2 than its
    dimension, so the compact family's ``copies`` shows in the parameter count."""
    return G.trivial + 3 * G.standard


FAMILIES = {
    "compact": Family("SO(2)", mixed, "implicit", 0, {"width": ("copies", 3), "scalar_width": ("mlp_width", 5)}),
    "matrix": Family("SO(2)-mat", mixed, "implicit", 0, {"width": ("mlp_width", 5)}),
    "clifford": Family("O(2,0)", lambda G: G.multivector, "implicit", 0, {"width": ("multivectors", 3)}),
    "analytic": Family("O(2)", mixed, "analytic", 2, {"width": ("mlp_width", 5)}),
}
RENAMES = [(family, old) for family, spec in FAMILIES.items() for old in spec.renames]
# keywords a family does not take, among them the other families' options
UNKNOWN = [("compact", "multivectors"), ("matrix", "copies"), ("matrix", "scalar_width"), ("clifford", "mlp_width"),
           ("analytic", "copies"), ("compact", "not_an_option")]


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(("family", "old"), RENAMES)
def test_old_keyword_warns_and_builds_the_same_network(family, old):
    spec = FAMILIES[family]
    new, value = spec.renames[old]
    with pytest.warns(DeprecationWarning) as record:
        deprecated = spec.build(**{old: value})
    messages = [str(w.message) for w in record if issubclass(w.category, DeprecationWarning)]
    assert len(messages) == 1 and f"'{old}'" in messages[0] and f"'{new}'" in messages[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        current = spec.build(**{new: value})
    assert parameter_count(deprecated) == parameter_count(current) != parameter_count(spec.build())
    assert deprecated.state_dict().keys() == current.state_dict().keys()
    with torch.no_grad():
        assert torch.equal(deprecated(*spec.inputs()), current(*spec.inputs()))


@pytest.mark.parametrize(("family", "old"), RENAMES)
def test_old_and_new_keyword_together_raise(family, old):
    spec = FAMILIES[family]
    new, value = spec.renames[old]
    with pytest.raises(TypeError, match=rf"'{old}'.*'{new}'"):
        spec.build(**{old: value, new: value})


@pytest.mark.parametrize(("family", "keyword"), UNKNOWN)
def test_unknown_keyword_raises(family, keyword):
    with pytest.raises(TypeError, match=keyword):
        FAMILIES[family].build(**{keyword: 4})


def test_warning_points_at_the_callers_line():
    """The warning skips the library's frames (decorator, network, builder) and names the line
    that passed the old keyword, so Python's default filters show it to scripts."""
    G = get_group("SO(2)")
    with pytest.warns(DeprecationWarning) as record:
        ImplicitKernel(G.standard, G.standard, width=2)
    assert len(record) == 1 and record[0].filename == __file__
    with open(__file__) as source:
        assert "width=2" in source.readlines()[record[0].lineno - 1]


def test_renamed_keywords_passes_other_arguments_through():
    @renamed_keywords(size="length")
    def make(first, *, length=1, other=0):
        return first, length, other

    assert make(1, other=2) == (1, 1, 2)
    with pytest.warns(DeprecationWarning, match="'size'.*'length'"):
        assert make(1, size=3, other=2) == (1, 3, 2)
