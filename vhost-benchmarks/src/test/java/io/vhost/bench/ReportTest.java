package io.vhost.bench;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The collation puts each figure next to its anchors and computes the ratios from the same run's files. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ReportTest {

    @TempDir
    Path dir;

    @Test
    void ratiosAreOurTimeOverTheAnchorsTimeAndOneWayRatesAreInverted() throws Exception {
        Files.writeString(dir.resolve("machine.txt"), "cpu: test\n");
        Files.writeString(dir.resolve("floor-pinned.jsonl"), """
                {"bench":"rt","fds":0,"rcvtimeo_us":4000,"seconds":2.00,"ops":160000,"ops_per_s":80000,"median_us":12.50,"p99_us":21.00}
                {"bench":"rt","fds":0,"rcvtimeo_us":0,"seconds":2.00,"ops":200000,"ops_per_s":100000,"median_us":10.00,"p99_us":20.00}
                {"bench":"rt","fds":1,"seconds":2.00,"ops":100000,"ops_per_s":50000,"median_us":20.00,"p99_us":30.00}
                {"bench":"oneway","fds":0,"seconds":2.00,"ops":800000,"ops_per_s":400000,"median_us":0.00,"p99_us":0.00}
                {"bench":"efd","fds":0,"seconds":2.00,"ops":400000,"ops_per_s":200000,"median_us":5.00,"p99_us":9.00}
                """);
        Files.writeString(dir.resolve("rust-pinned.txt"), """
                # summary
                MEDIAN op=get_features version=v0.10.0 runs=1 rate=80000 [80000-80000] median_us=12.50 p99_us=15.00
                MEDIAN op=set_vring_num_oneway version=HEAD-4e217d9 runs=1 rate=200000 [200000-200000] median_us=NA p99_us=NA
                """);
        Files.writeString(dir.resolve("java-pinned.jsonl"), """
                {"regime":"pinned","suite":"control","bench":"getFeatures","caller":"virtual","transport":"FFM","mode":"sample","mean_us":26.0,"median_us":25.000,"p99_us":50.0,"ops_per_s":38461.5,"samples":1000}
                {"regime":"pinned","suite":"control","bench":"getFeatures","caller":"virtual","transport":"FFM","mode":"thrpt","ops_per_s":40000}
                {"regime":"pinned","suite":"oneway","bench":"setVringNumOneway","caller":"virtual","transport":"FFM","mode":"thrpt","ops_per_s":100000}
                {"regime":"pinned","suite":"blk","bench":"randomRead4k","caller":"virtual","depth":"1","target":"vhost-java","mode":"thrpt","ops_per_s":30000}
                {"regime":"pinned","suite":"blk","bench":"randomRead4k","caller":"virtual","depth":"1","target":"qsd","mode":"thrpt","ops_per_s":20000}
                """);

        Report.main(new String[] {dir.toString()});

        String md = Files.readString(dir.resolve("results.md"));
        // GET_FEATURES: 25 us over the C floor's 10 us and Rust's 12.5 us
        assertTrue(md.contains("| **2.50** | **2.00** | – |"), md);
        // the floor with a receive timeout, listed first above, is not the plain floor: it gets a line of its own
        assertTrue(md.contains("of 4000 µs on both ends"), md);
        assertTrue(md.contains("12.50 µs (21.00), 80.0 k/s, **1.25** × the plain floor; our GET_FEATURES (FFM, virtual)"
                + " ÷ this floor **2.00**."), md);
        // one-way: C 400 k/s and Rust HEAD 200 k/s over our 100 k/s
        assertTrue(md.contains("100.0 k/s | – | – | – | **4.00** | – | **2.00** |"), md);
        // data plane: IOPS ratio ours over qsd
        assertTrue(md.contains("| 1 | 30.0 k IOPS | 20.0 k IOPS | 1.50 |"), md);
        assertFalse(md.contains("## Control plane, unpinned"), "no unpinned files, no unpinned table");
        String json = Files.readString(dir.resolve("results.json"));
        assertTrue(json.contains("\"source\": \"rust\""), json);
        assertTrue(json.contains("\"median_us\": 25.000"), json);
    }

    @Test
    void headToHeadSetsOurCpuPerRoundTripBesideTheRustBinarys() throws Exception {
        Files.writeString(dir.resolve("machine.txt"), "cpu: test\n");
        Files.writeString(dir.resolve("h2h-java.jsonl"), """
                {"round":1,"bench":"switchCount","op":"getFeatures","us_per_op":4.00,"user_cpu_us_per_op":1.00,"system_cpu_us_per_op":3.00,"call_p50_us":3.80,"call_p99_us":5.00}
                """);
        Files.writeString(dir.resolve("h2h-rust.txt"), """
                MEDIAN op=get_features version=v0.10.0 runs=1 rate=250000 [250000-250000] median_us=3.90 p99_us=4.50
                """);
        // 1 s of user and 5 s of system time over 400 000 operations: 2.5 us and 12.5 us each
        Files.writeString(dir.resolve("h2h-rust-cpu.txt"), """
                RUSTCPU op=get_features version=v0.10.0 rate=160000 user_s=1.00 sys_s=5.00 seconds=2.5
                """);

        Report.main(new String[] {dir.toString()});

        String md = Files.readString(dir.resolve("results.md"));
        assertTrue(md.contains("| **1.00** / **0.97** |"), md);
        assertTrue(md.contains("| GET_FEATURES round trip | 1.00 + 3.00 µs | 2.50 + 12.50 µs | -1.50 µs | -9.50 µs |"), md);
    }
}
