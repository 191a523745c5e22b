"""How built-in publish targets are found: by looking at the targets package, not by a list to keep."""
import sys


def test_a_helper_module_in_the_targets_package_is_not_taken_for_a_target(tmp_path, monkeypatch):
    """Two targets may share a module of helpers; it must not break every command (it used to: AttributeError)."""
    from hatch_mlbundle.publish import targets

    (tmp_path / "shared_helpers.py").write_text('"""What two targets share."""\nCHUNK = 1 << 20\n')
    monkeypatch.setattr(targets, "__path__", [*targets.__path__, str(tmp_path)])
    targets.builtin_names.cache_clear()
    try:
        assert targets.builtin_names() == ("pypi", "generic", "release")
    finally:
        targets.builtin_names.cache_clear()
        sys.modules.pop(f"{targets.__name__}.shared_helpers", None)
