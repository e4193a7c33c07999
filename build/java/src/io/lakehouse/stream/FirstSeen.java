package io.lakehouse.stream;

import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.catalyst.util.IntervalUtils;
import org.apache.spark.sql.streaming.ExpiredTimerInfo;
import org.apache.spark.sql.streaming.MapState;
import org.apache.spark.sql.streaming.OutputMode;
import org.apache.spark.sql.streaming.StatefulProcessor;
import org.apache.spark.sql.streaming.TTLConfig;
import org.apache.spark.sql.streaming.TimeMode;
import org.apache.spark.sql.streaming.TimerValues;
import org.apache.spark.sql.streaming.ValueState;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;
import scala.Tuple2;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Event-id deduplication in Spark's state store that marks rows instead of dropping them.
 *
 * <p>{@link #mark} adds a boolean column {@code first_seen} to a streaming Dataset of
 * messages with Kafka's {@code partition} and {@code offset}, an id column and an event
 * time column: true for the earliest message (lowest partition, then offset) of an id the
 * query does not remember, false for every other message of that id, null for rows whose
 * id is null (messages the job rejects, which keep no state). Every input row comes out
 * once, so a job still counts what it read, wrote and found duplicated.
 *
 * <p>An id is remembered until the query's event-time watermark (the caller's {@code
 * withWatermark} on the time column) passes its event time: after that a redelivery of
 * the event is late anyway. It runs as {@code transformWithState} in processing-time
 * mode (which, unlike event-time mode, never makes Spark drop late rows: the job
 * quarantines them itself). Ids are spread over {@link #SHARDS} shards by hash, each a
 * map of id to event time with one processing-time timer: every {@code checkEvery} a
 * shard's timer fires and the shard forgets the ids the watermark has passed. The shards'
 * timers are staggered over one period and keep their phase (after a restart, the shards
 * that were due sweep at once, then return to their own times), so a batch sweeps about
 * {@code SHARDS x trigger interval / checkEvery} shards, not the whole state:
 * flatMapGroupsWithState (used before) scanned every id for timeouts in every batch, and
 * one timer per id (tried) costs two more state writes per event. A replayed batch runs
 * with the same batch time, watermark and state version (Spark's offset log and
 * checkpoint), so it marks the same rows.
 *
 * <p>The state lives in the RocksDB provider (which transformWithState requires), on
 * local disk and in the checkpoint. The number of state partitions is the query's {@code
 * spark.sql.shuffle.partitions} when its checkpoint was created, fixed from then on; so
 * is {@link #SHARDS}.
 */
public final class FirstSeen {
  /**
   * Shards of the id state: a sweep reads 1/SHARDS of the ids, and a batch holds at most
   * one shard's rows in memory at a time (about batch / SHARDS rows).
   */
  public static final int SHARDS = 1024;

  private FirstSeen() {}

  public static Dataset<Row> mark(
      Dataset<Row> rows, String idColumn, String timeColumn, String checkEvery) {
    StructType in = rows.schema();
    StructType out = in.add("first_seen", DataTypes.BooleanType, true);
    int id = in.fieldIndex(idColumn);
    int offset = in.fieldIndex("offset");
    // Shards 0..SHARDS-1 by id; rejected rows (null id) keep no state and go to negative
    // keys by offset, so they spread over the tasks too.
    MapFunction<Row, Integer> key =
        r -> r.isNullAt(id)
            ? -1 - (int) Math.floorMod(r.isNullAt(offset) ? 0L : r.getLong(offset), SHARDS)
            : Math.floorMod(r.getString(id).hashCode(), SHARDS);
    long periodMs =
        IntervalUtils.stringToInterval(UTF8String.fromString(checkEvery))
            .extractAsDuration()
            .toMillis();
    if (periodMs <= 0) {
      throw new IllegalArgumentException("checkEvery must be positive, not " + checkEvery);
    }
    Marker marker =
        new Marker(
            in.size(),
            id,
            in.fieldIndex(timeColumn),
            in.fieldIndex("partition"),
            offset,
            periodMs);
    return rows.groupByKey(key, Encoders.INT())
        .transformWithState(
            marker, TimeMode.ProcessingTime(), OutputMode.Append(), Encoders.row(out));
  }

  /** The stateful processor: per shard, id -> event time (ms), and the next sweep. */
  static final class Marker extends StatefulProcessor<Integer, Row, Row> {
    private static final long serialVersionUID = 1L;
    private final int width;
    private final int id;
    private final int time;
    private final int partition;
    private final int offset;
    private final long checkEveryMs;
    private transient MapState<String, Long> ids;
    private transient ValueState<Long> nextSweep;

    Marker(int width, int id, int time, int partition, int offset, long checkEveryMs) {
      this.width = width;
      this.id = id;
      this.time = time;
      this.partition = partition;
      this.offset = offset;
      this.checkEveryMs = checkEveryMs;
    }

    @Override
    public void init(OutputMode outputMode, TimeMode timeMode) {
      ids = getHandle().getMapState("ids", Encoders.STRING(), Encoders.LONG(), TTLConfig.NONE());
      nextSweep = getHandle().getValueState("next_sweep", Encoders.LONG(), TTLConfig.NONE());
    }

    @Override
    public scala.collection.Iterator<Row> handleInputRows(
        Integer shard, scala.collection.Iterator<Row> group, TimerValues timers) {
      if (shard < 0) {
        return group.map(r -> with(r, null));
      }
      List<Row> found = new ArrayList<>();
      while (group.hasNext()) {
        found.add(group.next());
      }
      found.sort(this::byIdThenPosition);
      String previous = null;
      for (int i = 0; i < found.size(); i++) { // marked in place: one copy of the rows
        Row r = found.get(i);
        String eventId = r.getString(id);
        boolean first = false;
        if (!eventId.equals(previous) && !ids.containsKey(eventId)) {
          first = true;
          ids.updateValue(eventId, r.isNullAt(time) ? Long.MAX_VALUE : epochMillis(r.get(time)));
        }
        previous = eventId;
        found.set(i, with(r, first));
      }
      if (!nextSweep.exists()) {
        // Staggered: shard s first sweeps s/SHARDS of a period later than shard 0.
        sweepAt(timers.getCurrentProcessingTimeInMs() + checkEveryMs
            + checkEveryMs * shard / SHARDS);
      }
      return CollectionConverters.asScala(found.iterator());
    }

    @Override
    public scala.collection.Iterator<Row> handleExpiredTimer(
        Integer shard, TimerValues timers, ExpiredTimerInfo expired) {
      long watermark = timers.getCurrentWatermarkInMs(); // -1 until the query has one
      if (watermark >= 0) {
        List<String> passed = new ArrayList<>();
        scala.collection.Iterator<Tuple2<String, Long>> all = ids.iterator();
        while (all.hasNext()) {
          Tuple2<String, Long> entry = all.next();
          if (entry._2() < watermark) {
            passed.add(entry._1());
          }
        }
        passed.forEach(ids::removeKey);
      }
      // The next sweep keeps the shard's phase (its first time + whole periods), so shards
      // that were due together after a restart or a long batch stay staggered.
      long due = expired.getExpiryTimeInMs();
      long now = timers.getCurrentProcessingTimeInMs();
      sweepAt(due + checkEveryMs * (Math.max(0L, now - due) / checkEveryMs + 1));
      return CollectionConverters.asScala(Collections.<Row>emptyIterator());
    }

    private void sweepAt(long at) {
      getHandle().registerTimer(at);
      nextSweep.update(at);
    }

    private Row with(Row r, Boolean firstSeen) {
      Object[] values = new Object[width + 1];
      for (int c = 0; c < width; c++) {
        values[c] = r.get(c);
      }
      values[width] = firstSeen;
      return RowFactory.create(values);
    }

    private int byIdThenPosition(Row a, Row b) {
      int i = a.getString(id).compareTo(b.getString(id));
      if (i != 0) {
        return i;
      }
      int p = Integer.compare(position(a), position(b));
      if (p != 0) {
        return p;
      }
      long x = a.isNullAt(offset) ? -1L : a.getLong(offset);
      long y = b.isNullAt(offset) ? -1L : b.getLong(offset);
      return Long.compare(x, y);
    }

    private int position(Row r) {
      return r.isNullAt(partition) ? -1 : r.getInt(partition);
    }
  }

  private static long epochMillis(Object t) {
    return t instanceof Timestamp ? ((Timestamp) t).getTime() : ((Instant) t).toEpochMilli();
  }
}
