"""Each MongoDB feature MongoStore relies on, checked alone on each MongoDB-wire stand-in.

The contract suite says whether the adapter works on a stand-in; these say why not, one
feature at a time, so tests/servers/STANDINS.md's table is backed by a test per row. Every
feature here is documented for MongoDB 7; a gap of a stand-in is a strict xfail naming it, so
a stand-in that gains the feature fails the test until its entry in GAPS is removed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.mark.structures import ParameterSet
from pymongo import ASCENDING, MongoClient, ReplaceOne, ReturnDocument, UpdateOne
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from tests.servers import MongoServer

DURABLE = WriteConcern(w="majority", j=True)  # what MongoStore commits with
Doc = dict[str, Any]

_TRANSACTIONS = (
    "FerretDB 1.24 has no multi-document transactions (startTransaction rejected, no "
    "commitTransaction; FerretDB#1548)",
    OperationFailure,
)
_FERRETDB_SCANS = (
    "FerretDB 1.24 on SQLite answers $in and $all by a table scan (explain: SCAN), even $in "
    "on _id",
    AssertionError,
)
# (stand-in, feature) -> (why it fails, the exception it fails with)
GAPS: dict[tuple[str, str], tuple[str, type[BaseException]]] = {
    ("ferretdb", "partial_index"): (
        "FerretDB 1.24: createIndexes partialFilterExpression is NotImplemented (FerretDB#2448)",
        OperationFailure,
    ),
    ("ferretdb", "transaction"): _TRANSACTIONS,
    ("ferretdb", "write_conflict"): _TRANSACTIONS,
    ("ferretdb", "duplicate_in_transaction"): _TRANSACTIONS,
    ("ferretdb", "group_in_transaction"): _TRANSACTIONS,
    ("ferretdb", "journaled_commit_survives_kill"): _TRANSACTIONS,
    ("ferretdb", "elem_match"): (
        "FerretDB 1.24: $elemMatch with field conditions is 'unknown operator' (FerretDB#2964)",
        OperationFailure,
    ),
    ("ferretdb", "indexed_in"): _FERRETDB_SCANS,
    ("ferretdb", "indexed_all"): _FERRETDB_SCANS,
    ("secantus", "indexed_all"): (
        "SecantusDB answers $all + a range on the next key by a COLLSCAN; MongoDB uses "
        "the (terms, seq) index's first $all element",
        AssertionError,
    ),
    ("secantus", "journaled_commit_survives_kill"): (
        "SecantusDB ignores j: true on commitTransaction: a kill -9 loses acknowledged "
        "transactions unless it runs with --sync-on-commit (MongoServer's default)",
        AssertionError,
    ),
}
STANDINS = ("secantus", "ferretdb")


def standins(feature: str) -> list[ParameterSet]:
    """The stand-ins for one feature's test, each with its known gap as a strict xfail."""
    params = []
    for name in STANDINS:
        marks: list[pytest.MarkDecorator] = [pytest.mark.servers] if name == "ferretdb" else []
        gap = GAPS.get((name, feature))
        if gap is not None:
            marks.append(pytest.mark.xfail(strict=True, reason=gap[0], raises=gap[1]))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(scope="module")
def secantus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    with MongoServer(tmp_path_factory.mktemp("standins") / "secantus") as server:
        yield server


@pytest.fixture
def server(request: pytest.FixtureRequest) -> MongoServer:
    """The shared server of the stand-in named by the test's parameter."""
    fixture = "ferretdb_server" if request.param == "ferretdb" else "secantus"
    server: MongoServer = request.getfixturevalue(fixture)
    return server


@pytest.fixture
def client(server: MongoServer) -> Iterator[MongoClient[Doc]]:
    client: MongoClient[Doc] = MongoClient(server.url("admin"), serverSelectionTimeoutMS=5000)
    yield client
    client.close()


@pytest.fixture
def db(client: MongoClient[Doc], request: pytest.FixtureRequest) -> Iterator[Database[Doc]]:
    """A database of this test alone, with MongoStore's write and read concerns."""
    name = "standin_" + "".join(c for c in request.node.name if c.isalnum())[-40:]
    client.drop_database(name)
    yield client.get_database(
        name, write_concern=DURABLE, read_concern=ReadConcern("majority")
    )
    client.drop_database(name)


def _transaction(client: MongoClient[Doc], work: Callable[[ClientSession], Any]) -> Any:
    with client.start_session() as session:
        return session.with_transaction(
            work, read_concern=ReadConcern("snapshot"), write_concern=DURABLE
        )


def _plan(explained: Doc) -> str:
    return str(explained.get("queryPlanner", explained))


@pytest.mark.parametrize("server", standins("partial_index"), indirect=True)
def test_a_partial_unique_index_skips_documents_without_the_field(db: Database[Doc]) -> None:
    """statements.seq: unique, but placeholders (no seq) may be many."""
    db.s.create_index(
        [("seq", ASCENDING)], unique=True, partialFilterExpression={"seq": {"$exists": True}}
    )
    db.s.create_index(
        [("published", ASCENDING), ("seq", ASCENDING)],
        partialFilterExpression={"published": False},
    )
    db.s.insert_many([{"_id": "a"}, {"_id": "b"}, {"_id": "c", "seq": 1}])
    with pytest.raises(DuplicateKeyError):
        db.s.insert_one({"_id": "d", "seq": 1})


@pytest.mark.parametrize("server", standins("sparse_index"), indirect=True)
def test_a_sparse_index_is_accepted(db: Database[Doc]) -> None:
    db.s.create_index([("ref_target", ASCENDING)], name="ref_target", sparse=True)
    db.s.insert_many([{"_id": "a"}, {"_id": "b", "ref_target": "a"}])
    assert [d["_id"] for d in db.s.find({"ref_target": {"$in": ["a"]}})] == ["b"]


@pytest.mark.parametrize("server", standins("transaction"), indirect=True)
def test_a_transaction_commits_all_or_nothing(
    client: MongoClient[Doc], db: Database[Doc]
) -> None:
    db.t.insert_one({"_id": 0, "n": 0})

    def work(session: ClientSession) -> None:
        db.t.insert_one({"_id": 1}, session=session)
        db.t.update_one({"_id": 0}, {"$inc": {"n": 1}}, session=session)

    _transaction(client, work)

    class Abandon(Exception):
        pass

    def failing(session: ClientSession) -> None:
        db.t.insert_one({"_id": 2}, session=session)
        raise Abandon

    with pytest.raises(Abandon):
        _transaction(client, failing)
    assert list(db.t.find().sort("_id", ASCENDING)) == [{"_id": 0, "n": 1}, {"_id": 1}]


@pytest.mark.parametrize("server", standins("write_conflict"), indirect=True)
def test_two_transactions_writing_one_document_conflict(
    client: MongoClient[Doc], db: Database[Doc]
) -> None:
    """What _save_batch's correctness rests on: the second writer gets a WriteConflict
    labelled TransientTransactionError (which with_transaction retries), never a lost update."""
    db.c.insert_one({"_id": 1, "v": 0})
    with client.start_session() as first, client.start_session() as second:
        first.start_transaction(write_concern=DURABLE)
        second.start_transaction(write_concern=DURABLE)
        db.c.update_one({"_id": 1}, {"$inc": {"v": 1}}, session=first)
        with pytest.raises(OperationFailure) as conflict:
            db.c.update_one({"_id": 1}, {"$inc": {"v": 1}}, session=second)
        assert conflict.value.code == 112  # WriteConflict
        assert conflict.value.has_error_label("TransientTransactionError")
        first.commit_transaction()
        with pytest.raises(PyMongoError):
            second.commit_transaction()
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "v": 1}


@pytest.mark.parametrize("server", standins("duplicate_in_transaction"), indirect=True)
def test_a_unique_violation_in_a_transaction_is_a_duplicate_key_error(
    client: MongoClient[Doc], db: Database[Doc]
) -> None:
    """append_access retries on DuplicateKeyError when two appenders take one seq."""
    db.log.create_index([("seq", ASCENDING)], unique=True)
    db.log.insert_one({"seq": 1})
    with pytest.raises(DuplicateKeyError):
        _transaction(client, lambda session: db.log.insert_one({"seq": 1}, session=session))
    assert db.log.count_documents({}) == 1


@pytest.mark.parametrize("server", standins("create_collection"), indirect=True)
def test_collections_are_created_up_front_and_again_harmlessly(db: Database[Doc]) -> None:
    """MongoStore creates every collection at start, outside any transaction (MongoDB 7
    cannot create one inside a cross-shard write transaction); a second process starting
    at the same moment may find it there: NamespaceExists (48), or ok."""
    for _ in range(2):
        try:
            db.create_collection("fresh", check_exists=False)
        except OperationFailure as exc:
            assert exc.code == 48  # NamespaceExists
    assert "fresh" in db.list_collection_names()


@pytest.mark.parametrize("server", standins("group_in_transaction"), indirect=True)
def test_distinct_keys_by_group_in_a_transaction(
    client: MongoClient[Doc], db: Database[Doc]
) -> None:
    """retract_contributions and erasure read a statement's keys inside their transaction
    with $match + $group (MongoDB 7 allows distinct there on unsharded collections only)."""
    db.c.insert_many([{"_id": i, "s": i % 2, "key": f"k{i % 3}"} for i in range(6)])

    def work(session: ClientSession) -> list[str]:
        groups = db.c.aggregate(
            [{"$match": {"s": 0}}, {"$group": {"_id": "$key"}}], session=session
        )
        return sorted(d["_id"] for d in groups)

    assert _transaction(client, work) == ["k0", "k1", "k2"]


@pytest.mark.parametrize("server", standins("elem_match"), indirect=True)
def test_elem_match_with_field_conditions(db: Database[Doc]) -> None:
    """list_states: one element of idx must match both f and v."""
    db.states.insert_many(
        [
            {"_id": 1, "idx": [{"f": "score", "v": 3}, {"f": "other", "v": 9}]},
            {"_id": 2, "idx": [{"f": "score", "v": 1}, {"f": "other", "v": 9}]},
        ]
    )
    found = db.states.find({"idx": {"$elemMatch": {"f": "score", "v": {"$gte": 2}}}})
    assert [d["_id"] for d in found] == [1]


@pytest.mark.parametrize("server", standins("update_operators"), indirect=True)
def test_the_update_operators_and_upserts(db: Database[Doc]) -> None:
    db.u.update_one({"_id": 1}, {"$setOnInsert": {"since": "a"}}, upsert=True)
    db.u.update_one({"_id": 1}, {"$setOnInsert": {"since": "b"}}, upsert=True)
    db.u.update_one({"_id": 1}, {"$max": {"position": 5}}, upsert=True)
    db.u.update_one({"_id": 1}, {"$max": {"position": 3}}, upsert=True)
    db.u.update_one({"_id": 1}, {"$addToSet": {"terms": {"$each": ["a", "b"]}}})
    db.u.update_one({"_id": 1}, {"$addToSet": {"terms": {"$each": ["b", "c"]}}})
    db.u.update_one({"_id": 2}, {"$inc": {"referenced": 1}}, upsert=True)
    counter = db.u.find_one_and_update(
        {"_id": "c"}, {"$inc": {"value": 3}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert counter == {"_id": "c", "value": 3}
    assert db.u.find_one({"_id": 1}) == {
        "_id": 1, "since": "a", "position": 5, "terms": ["a", "b", "c"]
    }  # fmt: skip
    assert db.u.find_one({"_id": 2}) == {"_id": 2, "referenced": 1}


@pytest.mark.parametrize("server", standins("bulk_writes"), indirect=True)
def test_unordered_bulk_upserts_on_a_unique_compound_index(db: Database[Doc]) -> None:
    db.names.create_index([("key", ASCENDING), ("name", ASCENDING)], unique=True)
    db.names.bulk_write(
        [
            UpdateOne({"key": "k", "name": "n"}, {"$setOnInsert": {"since": 1}}, upsert=True),
            UpdateOne({"key": "k", "name": "n"}, {"$setOnInsert": {"since": 2}}, upsert=True),
            UpdateOne({"key": "k", "name": "m"}, {"$setOnInsert": {"since": 3}}, upsert=True),
        ],
        ordered=False,
    )
    db.docs.bulk_write([ReplaceOne({"_id": "a"}, {"v": 1}, upsert=True)] * 2, ordered=False)
    rows = db.names.find({}, {"_id": 0}).sort("name", ASCENDING)
    assert list(rows) == [
        {"key": "k", "name": "m", "since": 3},
        {"key": "k", "name": "n", "since": 1},
    ]
    assert list(db.docs.find()) == [{"_id": "a", "v": 1}]


@pytest.mark.parametrize("server", standins("queries"), indirect=True)
def test_the_query_operators_sorts_and_projections(db: Database[Doc]) -> None:
    db.q.insert_many(
        [
            {"_id": i, "seq": i, "terms": [f"t{i % 3}", "all"], "cred": f"c{i % 2}", "s": f"x|{i}"}
            for i in range(10)
        ]
    )
    assert [d["_id"] for d in db.q.find({"_id": {"$in": [1, 3]}}).sort("_id", 1)] == [1, 3]
    assert db.q.count_documents({"cred": {"$nin": ["c0"]}}) == 5
    latest = db.q.find({"terms": {"$all": ["t1", "all"]}}, {"seq": 1}).sort("seq", -1).limit(2)
    assert list(latest) == [{"_id": 7, "seq": 7}, {"_id": 4, "seq": 4}]
    assert db.q.count_documents({"$and": [{"seq": {"$gte": 2, "$lte": 6}}, {"cred": "c0"}]}) == 3
    assert db.q.count_documents({"s": {"$regex": r"x\|1"}}) == 1
    assert db.q.count_documents({"terms": {"$exists": True}, "nothing": {"$exists": False}}) == 10
    groups = db.q.aggregate([{"$match": {"seq": {"$gt": 3}}}, {"$group": {"_id": "$cred"}}])
    assert sorted(d["_id"] for d in groups) == ["c0", "c1"]
    for definition in ("b", "a"):
        key = {"kind": "k", "id": definition}
        db.d.replace_one({"_id": key}, {"_id": key, "v": definition}, upsert=True)
    assert [d["v"] for d in db.d.find({"_id.kind": "k"}).sort("_id.id", ASCENDING)] == ["a", "b"]
    assert db.d.find_one_and_delete({"_id": {"kind": "k", "id": "a"}}) is not None
    assert db.d.count_documents({}) == 1


@pytest.mark.parametrize("server", standins("indexed_in"), indirect=True)
def test_an_in_filter_uses_the_index(db: Database[Doc]) -> None:
    """Only speed: _save_batch and its neighbours look statements up by `$in` on _id and
    ref_target; a scan makes each batch cost the whole collection."""
    db.s.create_index([("ref_target", ASCENDING)], sparse=True)
    db.s.insert_many([{"_id": i, "ref_target": i} for i in range(50)])
    for selector in ({"_id": {"$in": [1, 2]}}, {"ref_target": {"$in": [1, 2]}}):
        assert "IXSCAN" in _plan(db.s.find(selector).explain())


@pytest.mark.parametrize("server", standins("indexed_all"), indirect=True)
def test_all_terms_in_a_seq_range_use_the_terms_seq_index(db: Database[Doc]) -> None:
    """Only speed: query_statements pages with `terms: {$all}` and a seq range."""
    db.s.create_index([("terms", ASCENDING), ("seq", ASCENDING)])
    db.s.insert_many([{"_id": i, "seq": i, "terms": [f"a{i % 5}", "b"]} for i in range(100)])
    selector = {"terms": {"$all": ["a1", "b"]}, "seq": {"$gte": 0, "$lte": 50}}
    assert "IXSCAN" in _plan(db.s.find(selector).sort("seq", ASCENDING).explain())


@pytest.mark.parametrize("server", standins("journaled_commit_survives_kill"), indirect=True)
def test_a_journaled_commit_survives_a_kill(server: MongoServer, tmp_path: Path) -> None:
    """The API answers after a commit with j: true; a kill -9 then must lose nothing. The
    stand-in runs here as it would by default (SecantusDB without --sync-on-commit)."""
    crashing = type(server)(tmp_path / "crash", **_plain_options(server))
    with crashing:
        client: MongoClient[Doc] = MongoClient(crashing.url("crash"))
        db = client.get_database("crash", write_concern=DURABLE)
        db.t.insert_one({"_id": "seed"})
        for batch in range(20):
            docs = [{"_id": f"{batch}-{n}"} for n in range(5)]
            _transaction(client, lambda session, docs=docs: db.t.insert_many(docs, session=session))
        client.close()
        crashing.kill()
        crashing.start()
        client = MongoClient(crashing.url("crash"))
        try:
            assert client.crash.t.count_documents({}) == 101
        finally:
            client.close()


def _plain_options(server: MongoServer) -> dict[str, Any]:
    """SecantusDB without the flag that works around its gap; FerretDB has no such flag."""
    return {} if server.name == "ferretdb" else {"sync_on_commit": False}


def test_concurrent_transactions_on_secantus_lose_no_update(secantus: MongoServer) -> None:
    """with_transaction's retries on SecantusDB's WriteConflicts add up: 4 threads x 10
    increments in transactions make 40, as MongoDB's snapshot isolation would."""
    client: MongoClient[Doc] = MongoClient(secantus.url("concurrent"))
    db = client.get_database("concurrent", write_concern=DURABLE)
    db.c.delete_many({})
    db.c.insert_one({"_id": 1, "v": 0})

    def bump(session: ClientSession) -> None:
        value = db.c.find_one({"_id": 1}, session=session)
        assert value is not None
        db.c.update_one({"_id": 1}, {"$set": {"v": value["v"] + 1}}, session=session)

    def worker() -> None:
        for _ in range(10):
            _transaction(client, bump)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert db.c.find_one({"_id": 1}) == {"_id": 1, "v": 40}
    finally:
        client.close()
