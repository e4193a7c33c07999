"""Landing sources mapped onto the canonical tables of `catalog.tables`.

A source is a folder of files; each `SourceTable` says which files feed one
canonical table, how to read them, and how each canonical column is computed
from the raw (string) columns, as a Spark SQL expression. Columns a source
does not have are NULL. Values are then typed and validated by
`transforms.common.ingest`, so mappings only rename and reshape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog.tables import TABLES

OLIST_TS = ("yyyy-MM-dd HH:mm:ss", "M/d/yyyy H:mm", "yyyy-MM-dd")


@dataclass(frozen=True)
class SourceTable:
    table: str
    files: tuple[str, ...]  # glob patterns relative to the source folder
    # Raw column names by position for CSV/TSV (the header row, if any, is skipped).
    raw_columns: tuple[str, ...] = ()
    # canonical column -> SQL expression over raw columns; default: same name
    mapping: dict[str, str] = field(default_factory=dict)
    csv_options: dict[str, str] = field(default_factory=dict)
    timestamp_formats: tuple[str, ...] = ("yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss")
    date_formats: tuple[str, ...] = ("yyyy-MM-dd",)

    def expression(self, column: str) -> str:
        if column in self.mapping:
            return self.mapping[column]
        if not self.raw_columns or column in self.raw_columns:
            return f"`{column}`"
        return "CAST(NULL AS STRING)"


@dataclass(frozen=True)
class Source:
    name: str
    tables: tuple[SourceTable, ...]
    description: str = ""


def _identity(table: str) -> SourceTable:
    """Demo landing files carry the canonical column names, in any supported format."""
    # The whole output at once, or one `day=YYYY-MM-DD/` folder per day of arrival.
    return SourceTable(table=table, files=(f"{table}/*", f"{table}/*/*"))


DEMO = Source(
    "demo",
    tuple(
        _identity(t)
        for t in (
            "sellers",
            "customers",
            "products",
            "categories",
            "orders",
            "order_items",
            "payments",
            "reviews",
            "after_sales",
            "interactions",
            "locations",
            "items",
            "inventory_events",
            "inventory_counts",
        )
    ),
    "output of the generate_demo_data job",
)

_ORDER_COLUMNS = (
    "order_id",
    "customer_id",
    "order_status",
    "order_purchase_timestamp",
    "order_approved_at",
    "order_delivered_carrier_date",
    "order_delivered_customer_date",
    "order_estimated_delivery_date",
)

OLIST = Source(
    "olist",
    (
        SourceTable(
            "sellers",
            ("olist_sellers_dataset.csv*",),
            ("seller_id", "seller_zip_code_prefix", "seller_city", "seller_state"),
            # Zip prefixes lost their leading zeros in a re-save: pad back to 5.
            {
                "zip_code_prefix": "lpad(seller_zip_code_prefix, 5, '0')",
                "city": "seller_city",
                "state": "seller_state",
            },
        ),
        SourceTable(
            "customers",
            ("olist_customers_dataset.csv*",),
            (
                "customer_id",
                "customer_unique_id",
                "customer_zip_code_prefix",
                "customer_city",
                "customer_state",
            ),
            {
                "zip_code_prefix": "lpad(customer_zip_code_prefix, 5, '0')",
                "city": "customer_city",
                "state": "customer_state",
            },
        ),
        SourceTable(
            "products",
            ("olist_products_dataset.csv*",),
            (
                "product_id",
                "product_category_name",
                "product_name_lenght",  # sic: the original column names are misspelt
                "product_description_lenght",
                "product_photos_qty",
                "product_weight_g",
                "product_length_cm",
                "product_height_cm",
                "product_width_cm",
            ),
            {
                "category": "product_category_name",
                "name_length": "product_name_lenght",
                "description_length": "product_description_lenght",
                "photos_qty": "product_photos_qty",
                "weight_g": "product_weight_g",
                "length_cm": "product_length_cm",
                "height_cm": "product_height_cm",
                "width_cm": "product_width_cm",
            },
        ),
        SourceTable(
            "categories",
            ("product_category_name_translation.csv*",),
            ("product_category_name", "product_category_name_english"),
            {
                "category": "product_category_name",
                "category_english": "product_category_name_english",
            },
        ),
        SourceTable(
            "orders",
            # Only two partial extracts exist, with different timestamp formats.
            ("partial/olist_orders_*.csv*",),
            _ORDER_COLUMNS,
            {
                "status": "order_status",
                "purchased_at": "order_purchase_timestamp",
                "approved_at": "order_approved_at",
                "delivered_carrier_at": "order_delivered_carrier_date",
                "delivered_customer_at": "order_delivered_customer_date",
                "estimated_delivery_at": "order_estimated_delivery_date",
            },
            timestamp_formats=OLIST_TS,
        ),
        SourceTable(
            "order_items",
            ("olist_order_items_dataset.csv*",),
            (
                "order_id",
                "order_item_id",
                "product_id",
                "seller_id",
                "shipping_limit_date",
                "price",
                "freight_value",
            ),
            {"shipping_limit_at": "shipping_limit_date"},
            timestamp_formats=OLIST_TS,
        ),
        SourceTable(
            "payments",
            ("olist_order_payments_dataset.csv*",),
            (
                "order_id",
                "payment_sequential",
                "payment_type",
                "payment_installments",
                "payment_value",
            ),
            {"installments": "payment_installments"},
        ),
        SourceTable(
            "reviews",
            ("partial/olist_order_reviews_*.csv*",),
            (
                "review_id",
                "order_id",
                "review_score",
                "review_comment_title",
                "review_comment_message",
                "review_creation_date",
                "review_answer_timestamp",
            ),
            {
                "score": "review_score",
                "comment_title": "review_comment_title",
                "comment_message": "review_comment_message",
                "created_at": "review_creation_date",
                "answered_at": "review_answer_timestamp",
            },
            timestamp_formats=OLIST_TS,
        ),
    ),
    "Olist Brazilian e-commerce marketplace (public, CC BY-NC-SA 4.0)",
)

_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
_FIRST_GENRE = (
    "coalesce("
    + ", ".join(
        f"CASE WHEN g{i} = '1' THEN '{g.replace(chr(39), chr(39) * 2)}' END"
        for i, g in enumerate(_GENRES)
    )
    + ")"
)
_ML = {"sep": "|", "encoding": "ISO-8859-1", "header": "false"}

MOVIELENS = Source(
    "movielens",
    (
        SourceTable(
            "interactions",
            ("u.data",),
            ("user_id", "item_id", "rating_raw", "unix_ts"),
            {
                "event_type": "'rating'",
                "rating": "rating_raw",
                # Epoch seconds; out of Spark's timestamp range (0001..9999) the raw
                # text stays, fails to parse and is quarantined (`bad_type:event_ts`)
                # instead of overflowing (timestamp_seconds throws under ANSI).
                "event_ts": (
                    "CASE WHEN try_cast(unix_ts AS BIGINT) BETWEEN -62135596800 AND 253402300799 "
                    "THEN CAST(timestamp_seconds(try_cast(unix_ts AS BIGINT)) AS STRING) "
                    "ELSE unix_ts END"
                ),
            },
            {"sep": "\t", "header": "false"},
        ),
        SourceTable(
            "products",
            ("u.item",),
            (
                "movie_id",
                "title",
                "release_date",
                "video_release_date",
                "imdb_url",
                *tuple(f"g{i}" for i in range(len(_GENRES))),
            ),
            {"product_id": "movie_id", "category": _FIRST_GENRE, "listed_at": "release_date"},
            _ML,
            timestamp_formats=("d-MMM-yyyy",),
        ),
        SourceTable(
            "customers",
            ("u.user",),
            ("user_id", "age", "gender", "occupation", "zip_code"),
            {
                "customer_id": "user_id",
                "customer_unique_id": "user_id",
                "zip_code_prefix": "zip_code",
            },
            _ML,
        ),
    ),
    "MovieLens 100K ratings (GroupLens research licence)",
)

_WM_STORE = "concat('WM-', lpad(Store, 3, '0'))"

WALMART = Source(
    "walmart",
    (
        SourceTable(
            "store_sales",
            ("train.csv*",),
            ("Store", "Dept", "Date", "Weekly_Sales", "IsHoliday"),
            {
                "store_id": _WM_STORE,
                "dept_id": "Dept",
                "week_date": "Date",
                "weekly_sales": "Weekly_Sales",
                "is_holiday": "IsHoliday",
            },
        ),
        SourceTable(
            "store_features",
            ("features.csv*",),
            (
                "Store",
                "Date",
                "Temperature",
                "Fuel_Price",
                "MarkDown1",
                "MarkDown2",
                "MarkDown3",
                "MarkDown4",
                "MarkDown5",
                "CPI",
                "Unemployment",
                "IsHoliday",
            ),
            {
                "store_id": _WM_STORE,
                "week_date": "Date",
                "temperature": "Temperature",
                "fuel_price": "Fuel_Price",
                **{f"markdown{i}": f"MarkDown{i}" for i in range(1, 6)},
                "cpi": "CPI",
                "unemployment": "Unemployment",
                "is_holiday": "IsHoliday",
            },
        ),
        SourceTable(
            "locations",
            ("stores.csv*",),
            ("Store", "Type", "Size"),
            {
                "location_id": _WM_STORE,
                "location_type": "'STORE'",
                "store_format": "Type",
                "size_sqft": "Size",
            },
        ),
    ),
    "Walmart store sales 2010-2012 (public competition data)",
)

SOURCES: dict[str, Source] = {s.name: s for s in (DEMO, OLIST, MOVIELENS, WALMART)}


def check_sources() -> None:
    """Fail fast if a mapping names a canonical table or column that does not exist."""
    for source in SOURCES.values():
        for st in source.tables:
            schema = TABLES[st.table]
            unknown = set(st.mapping) - set(schema.names)
            if unknown:
                raise ValueError(f"source {source.name}.{st.table}: unknown columns {unknown}")


check_sources()
