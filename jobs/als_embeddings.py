"""als_embeddings: Spark ALS on implicit feedback -> embeddings and recommendations.

For the logical date D the run sees `silver.interactions` up to the end of D:
event weights (x an optional time decay from D) summed per (user, item), with
optional log or BM25 scaling, on stable integer ids (`gold.als_user_ids`,
`gold.als_item_ids`: an id keeps its index across runs, new ids are appended).
With `als.evaluate` it first scores the model on the public protocol (and a
popularity baseline beside it) into `gold.model_metrics`; the model gate then
refuses a model whose nDCG@10 falls more than `gate.ndcg_tolerance` below the
last published one. A published model writes D's slice (replaceWhere on
as_of_date) of gold.user_embeddings, item_embeddings, user_recommendations,
similar_items and popular_items, and, when configured, exports them to S3.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from catalog.tables import TABLES
from jobs.als_config import AlsEmbeddingsConfig
from lakecore.config import ConfigError
from lakecore.io import content_hash, hadoop_path
from lakecore.job import JobContext, JobSpec
from lakecore.quality import Check
from lakecore.s3_export import ExportTarget, publish
from transforms.recommendations import feedback as fb
from transforms.recommendations import outputs as out
from transforms.recommendations.model import evaluate, fit_als, item_matrix, recommend
from transforms.recommendations.topn import similar_top_k

NAME = "als_embeddings"
INTERACTIONS, PRODUCTS = "silver.interactions", "silver.products"
USER_IDS, ITEM_IDS = "gold.als_user_ids", "gold.als_item_ids"
USER_EMB, ITEM_EMB = "gold.user_embeddings", "gold.item_embeddings"
RECS, SIMILAR, POPULAR = "gold.user_recommendations", "gold.similar_items", "gold.popular_items"
METRICS = "gold.model_metrics"


def read_interactions(ctx: JobContext, day: date) -> DataFrame:
    df = ctx.lake.read(INTERACTIONS)
    names = TABLES["interactions"].names
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise ValueError(f"{INTERACTIONS}: missing columns {missing}; present: {df.columns}")
    cutoff = F.lit(f"{day + timedelta(days=1)} 00:00:00").cast("timestamp")
    return df.select(*names).where(F.col("event_ts") < cutoff)


def default_date(ctx: JobContext) -> date:
    latest = ctx.lake.read(INTERACTIONS).agg(F.max(F.to_date("event_ts"))).first()[0]
    if latest is None:
        raise ValueError(f"{INTERACTIONS} has no dated rows: nothing to train on")
    return latest


def update_ids(ctx: JobContext, ids: DataFrame, table: str, id_col: str, day: date) -> DataFrame:
    """Append ids not seen before (MERGE insert-only on the id) and return the whole map."""
    if ctx.lake.exists(table):
        current = ctx.lake.read(table)
    else:
        current = ctx.spark.createDataFrame([], f"{id_col} string, idx int, first_seen date")
    new = fb.new_id_rows(ids, current, id_col).withColumn("first_seen", F.lit(day).cast("date"))
    n = ctx.lake.merge(new, table, [id_col], update=False)
    ctx.run.add(table, written=n)
    return ctx.lake.read(table)


def weighted_events(ctx: JobContext, events: DataFrame, day: date) -> DataFrame:
    """Each interaction with its `weight`: event weight x rating multiplier x time decay."""
    s = ctx.job.als
    return fb.with_time_decay(
        fb.with_event_weight(events, s.event_weights, s.rating_weights),
        F.lit(str(day + timedelta(days=1))),
        s.half_life_days,
    )


def scale(ctx: JobContext, pairs: DataFrame) -> DataFrame:
    """The configured log or BM25 scaling of the pairs' strength (none by default).

    BM25 uses per-user and per-item totals over the pairs it is given, so the
    evaluation scales the training part alone: the held-out pairs never shape the
    training weights.
    """
    s = ctx.job.als
    pairs = fb.with_log_scale(pairs, s.log_scale_eps)
    return fb.with_bm25(pairs, s.bm25.k1, s.bm25.b) if s.bm25 else pairs


def model_version(
    ctx: JobContext, events: DataFrame, day: date, out_of_stock: DataFrame | None
) -> str:
    """Same config, date and inputs -> same version (a re-run rewrites the same slice).

    The inputs are the interactions, the products' categories (the popular items
    per category) and, when stock filtering is on, the set of out-of-stock items:
    a re-run after the hourly inventory update changed that set is a new version,
    so it is also exported again rather than skipped as already published. Other
    catalogue edits (titles, photos) change no output and no version.
    """
    parts = [ctx.cfg.config_hash, str(day), content_hash(events)]
    if ctx.lake.exists(PRODUCTS):
        parts.append(content_hash(ctx.lake.read(PRODUCTS).select("product_id", "category")))
    if out_of_stock is not None:
        parts.append(content_hash(out_of_stock))
    blob = ":".join(parts).encode()
    return f"als-{day:%Y%m%d}-{hashlib.sha256(blob).hexdigest()[:10]}"


def out_of_stock_items(ctx: JobContext) -> DataFrame | None:
    """(item_id) of items below the configured stock, or None when stock filtering is off.

    Checked before anything is written: a missing stock table stops the run with
    the config file and key to fix.
    """
    stock = ctx.job.als.stock
    if not stock.enabled:
        return None
    if not ctx.lake.exists(stock.table):
        raise ConfigError(
            f"{ctx.cfg.job_file}: als.stock.enabled is true but als.stock.table "
            f"{stock.table!r} does not exist in the lake {ctx.lake.root}; run "
            "inventory_reconciliation first, or set als.stock.enabled=false"
        )
    gone = out.out_of_stock(ctx.lake.read(stock.table), stock.min_available).cache()
    ctx.run.extra["out_of_stock_items"] = gone.count()
    return gone


def allowed_items(items: DataFrame, out_of_stock: DataFrame | None) -> DataFrame:
    """Item indexes that may be recommended: all, or those not out of stock."""
    if out_of_stock is None:
        return items.select("idx")
    return items.join(out_of_stock, on="item_id", how="left_anti").select("idx")


def build_outputs(ctx: JobContext, pairs, events, users, items, out_of_stock, version, day):
    """The five gold tables of one fitted model (lazy DataFrames) and the fit's seconds."""
    s = ctx.job.als
    model, seconds = fit_als(pairs, s.params())
    v, as_of = F.lit(version), F.lit(day).cast("date")
    allowed = allowed_items(items, out_of_stock)
    seen = out.seen_items(events, users, items, s.exclude_event_types)
    recs = recommend(model, seen, s.top_n, allowed)
    idx, vectors = item_matrix(model.itemFactors)
    item_vectors = model.itemFactors.select(
        F.col("id").alias("idx"), F.col("features").alias("vector")
    )
    similar = similar_top_k(item_vectors, idx, vectors, s.similar_k)
    popularity = out.item_popularity(pairs).join(
        items.join(allowed, "idx", "left_semi").select("item_id"), "item_id", "left_semi"
    )
    products = ctx.lake.read(PRODUCTS) if ctx.lake.exists(PRODUCTS) else None
    tables = {
        USER_EMB: out.vectors_with_ids(model.userFactors, users, "user_id", v, as_of),
        ITEM_EMB: out.vectors_with_ids(model.itemFactors, items, "item_id", v, as_of),
        RECS: out.topn_with_ids(recs, users, items, ("user_id", "item_id", "score"), v, as_of),
        SIMILAR: out.topn_with_ids(
            similar, items, items, ("item_id", "similar_item_id", "similarity"), v, as_of
        ),
        POPULAR: out.popular_items(popularity, products, s.popular_n, v, as_of),
    }
    return tables, seconds


def checks(table: str, top: int) -> list[Check]:
    return {
        RECS: [Check.unique("user_id", "rank"), Check.unique("user_id", "item_id"),
               Check.between("rank", 1, top), Check.not_null("score")],
        SIMILAR: [Check.unique("item_id", "rank"), Check.between("similarity", -1.0, 1.0),
                  Check.between("rank", 1, top)],
        POPULAR: [Check.unique("scope", "category", "rank"), Check.in_set("scope", ["overall", "category"])],
    }[table]  # fmt: skip


def publish_tables(ctx: JobContext, tables: dict[str, DataFrame], day: date) -> dict[str, int]:
    """Gate every table, then write D's slice of each: a failed check writes nothing.

    (A crash between two writes leaves a mixed day; a re-run of D rewrites every
    slice, with the same version when its inputs did not change.)
    """
    s = ctx.job.als
    top = {RECS: s.top_n, SIMILAR: s.similar_k}
    for table, df in tables.items():
        # Embeddings are one row per ALS factor by construction: only what serving
        # reads is gated (each gate is a GE validation run, seconds apiece).
        if table not in (USER_EMB, ITEM_EMB):
            ctx.gate(df, table, checks(table, top.get(table, s.popular_n)))
    written = {}
    for table, df in tables.items():
        n = ctx.lake.overwrite_where(df, table, f"as_of_date = '{day}'", ["as_of_date"])
        ctx.run.add(table, written=n)
        written[table] = n
    return written


def export(
    ctx: JobContext, version: str, day: date, metrics: dict, written: dict[str, int]
) -> None:
    e = ctx.job.als.export
    target = ExportTarget(e.bucket, e.prefix, e.endpoint_url, e.region)
    tables = {
        t.split(".", 1)[1]: ctx.lake.read(t)
        .where(F.col("model_version") == version)
        .drop("as_of_date")
        for t in written
    }
    with ctx.step(f"export {version} to s3://{e.bucket}/{e.prefix}"):
        meta = {"as_of_date": str(day), "dataset": ctx.job.als.dataset, "metrics": metrics}
        manifest = publish(target, version, tables, meta)
    ctx.run.extra["export"] = "already published" if manifest is None else "published"


METRICS_SCHEMA = (
    "model_version string, dataset string, model string, as_of_date date, evaluated_at timestamp, "
    "precision_at_10 double, recall_at_10 double, ndcg_at_10 double, map double, "
    "coverage double, users long, train_seconds double, published boolean, "
    "beats_popularity boolean, note string"
)


def last_published(ctx: JobContext, version: str):
    """The latest published ALS model scored on the same dataset, other than `version`.

    A model published without evaluation has no nDCG to compare with; the gate
    then compares with the latest published one that has.
    """
    if not ctx.lake.exists(METRICS):
        return None
    return (
        ctx.lake.read(METRICS)
        .where(
            (F.col("model") == "als")
            & (F.col("dataset") == ctx.job.als.dataset)
            & F.col("published")
            & F.col("ndcg_at_10").isNotNull()
            & (F.col("model_version") != version)
        )
        .orderBy(F.desc("as_of_date"), F.desc("evaluated_at"))
        .first()
    )


def model_gate(ctx: JobContext, version: str, als: dict, pop: dict) -> tuple[bool, list[str]]:
    """Publish unless nDCG@10 fell more than the tolerance below the last published model."""
    notes = []
    if als["ndcg_at_10"] <= pop["ndcg_at_10"]:
        notes.append(
            f"does not beat popularity: nDCG@10 {als['ndcg_at_10']:.4f} <= {pop['ndcg_at_10']:.4f}"
        )
    prev = last_published(ctx, version)
    tol = ctx.job.als.gate.ndcg_tolerance
    if prev is not None and als["ndcg_at_10"] < prev["ndcg_at_10"] - tol:
        notes.append(
            f"not published: nDCG@10 {als['ndcg_at_10']:.4f} is more than {tol} below "
            f"{prev['ndcg_at_10']:.4f} of the published {prev['model_version']}"
        )
        return False, notes
    return True, notes


def metrics_row(ctx, version, day, model, m, published, beats, note) -> tuple:
    m = m or {}
    return (
        version, ctx.job.als.dataset, model, day, ctx.run.started_at.replace(tzinfo=None),
        m.get("precision_at_10"), m.get("recall_at_10"), m.get("ndcg_at_10"), m.get("map"),
        m.get("coverage"), m.get("users"), m.get("train_seconds"), published, beats, note,
    )  # fmt: skip


def train_day(ctx: JobContext, day: date) -> None:
    s = ctx.job.als
    events = read_interactions(ctx, day).persist()
    pairs = gone = None
    try:
        with ctx.step(f"{day}: confidence and stable ids"):
            n_events = events.count()
            ctx.run.add(INTERACTIONS, read=n_events)  # trained on, not copied: none written
            weighted = weighted_events(ctx, events, day)
            # Every interaction read is counted: it weighs (> 0), or its event type
            # has no positive weight in the config; the two counts are independent.
            positive = F.col("weight") > 0
            n_weighted, n_unweighted = weighted.agg(
                F.count(F.when(positive, 1)), F.count(F.when(~positive, 1))
            ).first()
            ctx.run.extra.update(
                {"interactions": n_events, "interactions_weighted": n_weighted,
                 "interactions_without_weight": n_unweighted}
            )  # fmt: skip
            if n_weighted == 0:
                raise ValueError(
                    f"{INTERACTIONS}: no interaction up to {day} has a positive weight "
                    f"(als.event_weights in {ctx.cfg.job_file}: {dict(s.event_weights)})"
                )
            gone = out_of_stock_items(ctx)
            version = model_version(ctx, events, day, gone)
            users = update_ids(ctx, events.select("user_id"), USER_IDS, "user_id", day)
            items = update_ids(ctx, events.select("item_id"), ITEM_IDS, "item_id", day)
            unscaled = out.with_indexes(fb.aggregate_confidence(weighted), users, items)
            pairs = scale(ctx, unscaled).persist()
            n_pairs = pairs.count()
        ctx.run.extra.update({"model_version": version, "user_item_pairs": n_pairs})
        if n_pairs == 0:  # e.g. negative weights summing below 0, or BM25 dropping every pair
            raise ValueError(f"{INTERACTIONS}: no (user, item) pair keeps a positive strength")
        als_m = pop_m = None
        published, notes = True, ["not evaluated: model gate skipped"]
        if s.evaluate:
            with ctx.step(f"{day}: evaluate {version} ({s.dataset})"):
                als_m, pop_m = evaluate(
                    unscaled, s.params(), s.eval_ratio, s.eval_seed, scale=lambda df: scale(ctx, df)
                )
            published, notes = model_gate(ctx, version, als_m, pop_m)
            ctx.log.info("%s: %s als %s popularity %s", NAME, version, als_m, pop_m)
        ctx.run.extra["model_gate"] = {"published": published, "notes": notes}
        seconds = None
        if published:
            with ctx.step(f"{day}: fit {version} on all pairs and publish"):
                tables, seconds = build_outputs(
                    ctx, pairs, events, users, items, gone, version, day
                )
                written = publish_tables(ctx, tables, day)
        beats = None if als_m is None else als_m["ndcg_at_10"] > pop_m["ndcg_at_10"]
        if als_m is None:
            als_m = {"train_seconds": seconds}
        rows = [metrics_row(ctx, version, day, "als", als_m, published, beats, "; ".join(notes))]
        if pop_m is not None:
            rows.append(
                metrics_row(ctx, version, day, "popularity", pop_m, False, None, "baseline")
            )
        metrics = ctx.spark.createDataFrame(rows, METRICS_SCHEMA)
        # A re-run of the same version (same config, date and inputs: the same
        # metrics) keeps the first evaluation's row, its evaluated_at and
        # train_seconds included, so the table stays as it was. Only the gate's
        # outcome is updated when it changed: it also depends on the other models
        # published since, and the row must say whether this version is live.
        outcome = ("published", "beats_popularity", "note")
        ctx.run.add(METRICS, written=ctx.lake.accumulate(
            metrics, METRICS, ["model_version", "model"],
            set_exprs={c: f"s.{c}" for c in outcome},
            condition=" OR ".join(f"NOT (t.{c} <=> s.{c})" for c in outcome),
        ))  # fmt: skip
        if published and s.export.enabled:
            export(ctx, version, day, als_m, written)
    finally:
        events.unpersist()
        if pairs is not None:
            pairs.unpersist()
        if gone is not None:
            gone.unpersist()


def run(ctx: JobContext) -> None:
    # ALS truncates its factors' lineage every checkpoint_interval iterations only
    # when a checkpoint directory is set; Spark then never deletes the last
    # checkpoints, so the run removes its own folder when it ends.
    sc = ctx.spark.sparkContext
    sc.setCheckpointDir(
        f"{ctx.cfg.env.lakehouse.checkpoints or ctx.lake.root + '/_checkpoints'}/{NAME}"
    )
    folder = sc.getCheckpointDir()  # the run's own folder (a fresh UUID under the root)
    try:
        for day in ctx.dates():
            train_day(ctx, day)
    finally:
        try:
            ctx.run.extra["als_checkpoints_removed"] = remove_checkpoints(ctx, folder)
        except Exception as exc:  # never hide the run's own error behind a clean-up one
            ctx.log.warning("%s: could not remove checkpoints %s: %s", NAME, folder, exc)


def remove_checkpoints(ctx: JobContext, folder: str | None) -> int:
    """Delete a checkpoint folder (any Hadoop file system); returns the RDDs it held."""
    if folder is None:
        return 0
    path, fs = hadoop_path(ctx.spark, folder)
    if not fs.exists(path):
        return 0
    n = len(fs.listStatus(path))
    fs.delete(path, True)
    return n


SPEC = JobSpec(
    name=NAME,
    description="Spark ALS (implicit) embeddings, recommendations, similar items, model gate, S3 export",
    config_model=AlsEmbeddingsConfig,
    run=run,
    reads=(INTERACTIONS, PRODUCTS, USER_IDS, ITEM_IDS, METRICS, "gold.inventory_book_snapshot"),
    writes=(USER_IDS, ITEM_IDS, USER_EMB, ITEM_EMB, RECS, SIMILAR, POPULAR, METRICS),
    dated=True,
    default_date=default_date,
)
