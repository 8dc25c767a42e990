/**
 * Benchmarks of vhost-java (shaded {@code benchmarks.jar}); method and results in {@code docs/benchmarks.md}.
 * <ul>
 * <li>{@link io.vhost.bench.ControlPlaneBench}: the five control-plane operations of the Rust anchor, over a real unix
 * socket between our front-end and our back-end, for both transports; plus a bare caller without the front-end.</li>
 * <li>{@link io.vhost.bench.KickBench}: eventfd ping-pong through the poller, and kick → handler → call through the
 * daemon framework.</li>
 * <li>{@link io.vhost.bench.BlkReadBench}: 4 KiB random reads through our driver ring, served by our blk back-end or
 * by qemu-storage-daemon.</li>
 * <li>{@link io.vhost.bench.SessionScale}: idle sessions in one JVM (threads, heap, RSS, fds, set-up time).</li>
 * <li>{@link io.vhost.bench.SwitchCount}: context switches and CPU per round trip (the "why" of the figures).</li>
 * <li>{@link io.vhost.bench.BenchMain} runs one regime of the suite; {@link io.vhost.bench.Report} collates a run
 * with the C floor ({@code src/main/c/vhost_floor.c}) and the Rust anchor; {@code bench.sh} is the one command.</li>
 * </ul>
 */
package io.vhost.bench;
