"""Is a SQL statement read-only? Decided on Spark's parsed plan, not on its text.

`jobs query` runs what an analyst types; a slip (`DELETE FROM ...` in place of
`SELECT ...`) must not change the lake. A statement is read-only when no node
of its parsed plan is a command (Spark's `Command`: DELETE, UPDATE, MERGE,
DROP, ALTER, CREATE, TRUNCATE, VACUUM, OPTIMIZE...) or an insert/restore
statement, except the commands that only show things (SHOW, DESCRIBE, EXPLAIN,
SET, USE). Several statements at once do not parse as one and are refused too.
"""

from __future__ import annotations

import re

from pyspark.sql import SparkSession

COMMAND = "org.apache.spark.sql.catalyst.plans.logical.Command"
# Plan nodes that write (or run another statement) but are not `Command`s: named, and
# by the words such nodes carry, so a node a later Spark or Delta adds is refused too.
WRITES = frozenset(
    {
        "InsertIntoStatement",
        "InsertIntoDir",
        "RestoreTableStatement",
        "CloneTableStatement",
        "UnresolvedExecuteImmediate",
        "ExecuteImmediateQuery",
        "Call",
    }
)
WRITE_WORDS = re.compile(
    r"Insert|Merge|Update|Delete|Drop|Alter|Create|Truncate|Vacuum|Optimize|Restore|Clone|"
    r"Execute|Call|Replace|Write|Append|Overwrite|Convert|Repair|Rename"
)
# Commands that only read or describe (or change the session, not the lake).
SHOWS = frozenset(
    {
        "ShowTables",
        "ShowTablesExtended",
        "ShowViews",
        "ShowColumns",
        "ShowNamespaces",
        "ShowFunctions",
        "ShowTableProperties",
        "ShowCreateTable",
        "ShowPartitions",
        "ShowCatalogs",
        "ShowCurrentNamespace",
        "DescribeRelation",
        "DescribeColumn",
        "DescribeNamespace",
        "DescribeFunction",
        "DescribeDeltaHistory",
        "DescribeDeltaDetailCommand",
        "ExplainCommand",
        "SetCommand",
        "SetCatalogAndNamespace",
    }
)


class NotReadOnlyError(ValueError):
    pass


def plan_nodes(spark: SparkSession, sql: str) -> list[tuple[str, bool]]:
    """(class name, is a Command) of every node of the statement's parsed plan."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import ParseException

    parser = spark._jsparkSession.sessionState().sqlParser()
    try:
        plan = parser.parsePlan(sql)
    except (ParseException, Py4JJavaError) as exc:
        first = next((line for line in str(exc).strip().splitlines() if line.strip()), "")
        raise NotReadOnlyError(
            f"the statement does not parse as one SQL statement: {first}"
        ) from None
    command = spark._jvm.java.lang.Class.forName(COMMAND)
    out, todo = [], [plan]
    while todo:
        node = todo.pop()
        out.append((node.getClass().getSimpleName(), bool(command.isInstance(node))))
        children = node.children().iterator()
        while children.hasNext():
            todo.append(children.next())
    return out


def check_read_only(spark: SparkSession, sql: str) -> None:
    """Raise NotReadOnlyError naming what the statement would do, unless it only reads."""
    for name, is_command in plan_nodes(spark, sql):
        if name in SHOWS:
            continue
        if is_command or name in WRITES or WRITE_WORDS.search(name):
            raise NotReadOnlyError(
                f"refused: the statement is a {name}, which changes data or tables; "
                "`query` is read-only (pass --write to allow it)"
            )
