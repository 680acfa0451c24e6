import pytest

from groups import Group, get_group, list_groups, register_group
from groups.compact import CompactGroup


def test_known_names_are_listed_and_built():
    names = list_groups()
    for name in ["SO(2)", "O(2)", "SO(3)", "O(3)", "SO(2)z", "C<N>", "D<N>"]:
        assert name in names
    assert get_group("O(3)") is get_group("O(3)")
    assert get_group("C12").escnn_group.order() == 12
    assert get_group("D6").escnn_group.order() == 12


def test_unknown_name_lists_known_groups():
    with pytest.raises(KeyError, match=r"unknown group 'O\(7\)'.*SO\(3\).*C<N>"):
        get_group("O(7)")


def test_register_call_and_decorator():
    so3 = get_group("SO(3)")
    register_group("test-alias-so3", so3)
    assert get_group("test-alias-so3") is so3

    @register_group("test-lazy-o2")
    def build() -> Group:
        return get_group("O(2)")

    assert get_group("test-lazy-o2") is get_group("O(2)")
    with pytest.raises(ValueError, match="already registered"):
        register_group("test-alias-so3", so3)
    register_group("test-alias-so3", get_group("O(3)"), overwrite=True)
    assert get_group("test-alias-so3") is get_group("O(3)")


def test_factory_must_return_a_group():
    register_group("test-broken", lambda: 42)
    with pytest.raises(TypeError, match="not a Group"):
        get_group("test-broken")


def test_registry_hands_out_compact_groups_with_their_dimension():
    assert isinstance(get_group("SO(2)z"), CompactGroup)
    assert get_group("SO(2)z").n == 3 and get_group("D4").n == 2
