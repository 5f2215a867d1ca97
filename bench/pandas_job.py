#!/usr/bin/env python3
"""The SuccessApp job done with pandas, for bench/pipeline.

usage: pandas_job.py incident|dedup-first|day2 INPUT SCHEMA

incident     the way of the original incident: json_normalize of each
             nested field, outer merges on id, duplicates dropped after
             the merges, to_sql of the merged table.
dedup-first  duplicates dropped before anything is merged: the tables of
             the sa job (accounts, territories, tags, bridges,
             stage_history, result_reasons, results, territory_accounts),
             each written with to_sql.
day2         an incremental run into the tables dedup-first made: the
             same tables of INPUT's accounts; in each table the rows of
             those accounts are deleted and the new ones appended, in one
             transaction (bench/day2).

The database comes from the libpq environment (PGHOST, PGPORT, ...).
"""
import json
import sys

import pandas as pd
import sqlalchemy

CHILDREN = {
    "territories": (["territories"], ["id"]),
    "bridges": (["bridges"], ["id"]),
    "stage_history": (["stage_history"], ["id"]),
    "result_reasons": (["result_reasons"], ["id"]),
}


def as_json(df):
    """Lists (arrays kept whole) as JSON text, as sa loads them."""
    for c in df.columns:
        if df[c].map(lambda v: isinstance(v, list)).any():
            df[c] = df[c].map(lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
                              if isinstance(v, list) and v else None)
    return df


def child(records, name):
    path, meta = CHILDREN[name]
    df = pd.json_normalize(records, record_path=path, meta=meta,
                           record_prefix=name + "_", sep="_")
    df[name + "_idx"] = df.groupby("id").cumcount()
    return as_json(df)


def tags(records):
    rows = []
    for r in records:
        for i, t in enumerate(r.get("territories") or []):
            for j, g in enumerate(t.get("tags") or []):
                rows.append({"id": r["id"], "territories_idx": i, "territories_id": t.get("id"),
                             "territories_tags_idx": j, "territories_tags_name": g.get("name"),
                             "territories_tags_weight": g.get("weight")})
    return pd.DataFrame(rows)


def main():
    mode, path, schema = sys.argv[1:4]
    engine = sqlalchemy.create_engine("postgresql+psycopg2://")
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    with engine.begin() as c:
        c.execute(sqlalchemy.text("create schema if not exists " + schema))

    if mode == "incident":
        accounts = as_json(pd.json_normalize(records, sep="_"))
        merged = accounts
        for name in CHILDREN:
            merged = merged.merge(child(records, name), on="id", how="outer")
        merged = merged.drop_duplicates()
        merged.to_sql("merged", engine, schema=schema, if_exists="replace",
                      index=False, chunksize=10000)
        return

    # Duplicates first: the latest version of each account.
    latest = {}
    for r in records:
        old = latest.get(r["id"])
        if old is None or r["updated_at"] > old["updated_at"]:
            latest[r["id"]] = r
    order = {}
    for r in records:
        order.setdefault(r["id"], len(order))
    records = sorted(latest.values(), key=lambda r: order[r["id"]])

    tables = build_tables(records)
    if mode == "day2":
        ids = sorted({int(r["id"]) for r in records})
        with engine.begin() as c:
            for name, df in tables.items():
                c.execute(sqlalchemy.text("delete from %s.%s where id = any(:ids)"
                                          % (schema, name)), {"ids": ids})
                df.to_sql(name, c, schema=schema, if_exists="append", index=False,
                          chunksize=10000)
        return
    for name, df in tables.items():
        df.to_sql(name, engine, schema=schema, if_exists="replace", index=False,
                  chunksize=10000)


def build_tables(records):
    """The tables of the sa job, as data frames."""
    tables = {}
    acc = pd.json_normalize(records, sep="_")
    acc = acc.drop(columns=[c for c in ["territories", "bridges", "stage_history",
                                        "result_reasons"] if c in acc.columns])
    tables["accounts"] = as_json(acc)
    for name in CHILDREN:
        tables[name] = child(records, name)
    tables["territories"] = tables["territories"].drop(columns=["territories_tags"])
    tables["tags"] = tags(records)
    res = pd.json_normalize([r for r in records if r.get("result")], sep="_")
    tables["results"] = res[["id"] + [c for c in res.columns if c.startswith("result_")
                                      and c != "result_reasons"]]
    tables["territory_accounts"] = tables["territories"].merge(
        tables["accounts"], on="id", how="left", validate="m:1")
    return tables


if __name__ == "__main__":
    main()
