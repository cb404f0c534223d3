import tailcfg


def test_all_is_sorted_and_complete() -> None:
    assert list(tailcfg.__all__) == sorted(tailcfg.__all__)
    for name in tailcfg.__all__:
        assert hasattr(tailcfg, name), name


def test_error_tree() -> None:
    assert issubclass(tailcfg.HujsonError, tailcfg.SourceError)
    assert issubclass(tailcfg.PolicyError, tailcfg.SourceError)
    assert issubclass(tailcfg.ConflictError, tailcfg.BackendError)
    assert issubclass(tailcfg.SourceError, tailcfg.TailcfgError)
