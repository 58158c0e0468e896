"""habeas.aws: clients share one botocore data loader (service models parsed once per process)."""

from habeas import aws


def test_sessions_share_one_loader_whose_search_paths_do_not_grow(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws._session()
    paths = list(aws._data_loader().search_paths)
    for _ in range(3):
        session = aws._session()
        assert session._session.get_component("data_loader") is aws._data_loader()
    assert aws._data_loader().search_paths == paths
    assert any(path.endswith("boto3/data") for path in paths)  # resources still load
