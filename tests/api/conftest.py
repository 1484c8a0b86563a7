from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.harness import Harness, Template, build_template


@pytest.fixture(scope="package", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """Argon2 with cheap parameters while the API tests run: the production parameters cost
    close to a second per hash on a CI machine, and these tests sign in and create accounts
    hundreds of times. Hashes carry their parameters, so verification stays correct.
    Package scope: restored before the tests of other directories run."""
    from argon2 import PasswordHasher

    from kiosk_server.services import security
    if not hasattr(security, "_hasher"):  # implementation changed: run with the real cost
        yield
        return
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(security, "_hasher", fast)
        if hasattr(security, "_DUMMY_HASH"):
            mp.setattr(security, "_DUMMY_HASH", fast.hash("dummy-password-for-timing"))
        yield


@pytest.fixture(scope="package")
def template(_fast_password_hashing: None, tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("api-template"))


@pytest.fixture(scope="module")
def harness(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with Harness(template, tmp_path_factory.mktemp("api-hall")) as h:
        yield h


@pytest.fixture
def hall_api(harness: Harness) -> Harness:
    """The module's harness, restored to the template state."""
    harness.reset()
    return harness
