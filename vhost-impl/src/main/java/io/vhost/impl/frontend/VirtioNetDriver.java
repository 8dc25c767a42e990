package io.vhost.impl.frontend;

import io.vhost.impl.virtqueue.DriverRing;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Minimal virtio-net driver for tests and benchmarks over an RX queue (0) and a TX queue (1): every packet is a
 * 12-byte {@code virtio_net_hdr_v1} (all zero: no offloads; the size with VERSION_1 or MRG_RXBUF) followed by the
 * Ethernet frame, in one descriptor. One driver thread.
 */
public final class VirtioNetDriver {

    /** {@code sizeof(struct virtio_net_hdr_v1)}. */
    public static final int HEADER_BYTES = 12;

    private final VmmMemory memory;
    private final DriverQueue rx;
    private final DriverQueue tx;
    private final int bufferBytes;
    private final long txArea;
    private final long rxArea;
    private final ArrayDeque<Integer> freeTxSlots = new ArrayDeque<>();
    private final Map<Integer, Integer> txSlotByHead = new HashMap<>();
    private final Map<Integer, Integer> rxSlotByHead = new HashMap<>();

    /**
     * Allocates one buffer per descriptor of each queue in guest memory.
     *
     * @param memory guest memory
     * @param rx the receive queue (index 0)
     * @param tx the transmit queue (index 1)
     * @param bufferBytes the size of each buffer, header included
     */
    public VirtioNetDriver(VmmMemory memory, DriverQueue rx, DriverQueue tx, int bufferBytes) {
        this.memory = memory;
        this.rx = rx;
        this.tx = tx;
        this.bufferBytes = bufferBytes;
        this.txArea = memory.allocate((long) bufferBytes * tx.size(), 4096);
        this.rxArea = memory.allocate((long) bufferBytes * rx.size(), 4096);
        for (int i = 0; i < tx.size(); i++) {
            freeTxSlots.add(i);
        }
    }

    /**
     * Queues one frame for transmission (not yet kicked); reaps completed transmissions first when the ring is full.
     *
     * @param frame the Ethernet frame
     * @param timeout how long to wait for a free descriptor
     * @return {@code true} if queued, {@code false} if no descriptor became free in time
     * @throws IOException if waiting fails
     */
    public boolean send(byte[] frame, Duration timeout) throws IOException {
        if (frame.length + HEADER_BYTES > bufferBytes) {
            throw new IllegalArgumentException("frame of " + frame.length + " bytes does not fit a " + bufferBytes
                    + "-byte buffer with the " + HEADER_BYTES + "-byte header");
        }
        if (freeTxSlots.isEmpty()) {
            reapTx();
        }
        if (freeTxSlots.isEmpty()) {
            kickTx();
            DriverRing.Used u = tx.awaitUsed(timeout);
            if (u == null) {
                return false;
            }
            complete(u);
        }
        int slot = freeTxSlots.pop();
        long gpa = txArea + (long) slot * bufferBytes;
        MemorySegment buf = memory.segment(gpa, HEADER_BYTES + frame.length);
        buf.asSlice(0, HEADER_BYTES).fill((byte) 0);
        MemorySegment.copy(frame, 0, buf, ValueLayout.JAVA_BYTE, HEADER_BYTES, frame.length);
        int head = tx.add(List.of(new DriverRing.Buffer(gpa, HEADER_BYTES + frame.length)), List.of());
        txSlotByHead.put(head, slot);
        return true;
    }

    /**
     * Publishes queued frames and kicks the TX queue.
     *
     * @throws IOException if the kick fails
     */
    public void kickTx() throws IOException {
        tx.kick();
    }

    /**
     * Reaps every completed transmission.
     *
     * @return how many were reaped
     */
    public int reapTx() {
        int n = 0;
        for (DriverRing.Used u = tx.poll(); u != null; u = tx.poll()) {
            complete(u);
            n++;
        }
        return n;
    }

    /**
     * Returns the number of frames handed to the device and not yet completed.
     *
     * @return frames in flight on TX
     */
    public int txInFlight() {
        return txSlotByHead.size();
    }

    /**
     * Waits until every transmitted frame was completed by the device.
     *
     * @param timeout the longest wait
     * @return {@code true} if all completed
     * @throws IOException if waiting fails
     */
    public boolean drainTx(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        reapTx();
        while (!txSlotByHead.isEmpty()) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            DriverRing.Used u = tx.awaitUsed(Duration.ofNanos(left));
            if (u != null) {
                complete(u);
            }
        }
        return true;
    }

    private void complete(DriverRing.Used u) {
        Integer slot = txSlotByHead.remove(u.head());
        if (slot == null) {
            throw new IllegalStateException("TX completion for head " + u.head() + " that was not in flight");
        }
        freeTxSlots.push(slot);
    }

    /**
     * Posts receive buffers (device-writable) until the RX ring is full, and kicks.
     *
     * @throws IOException if the kick fails
     */
    public void fillRx() throws IOException {
        int slot = rxSlotByHead.size();
        while (rx.ring().freeDescriptors() > 0) {
            int free = firstFreeRxSlot(slot);
            long gpa = rxArea + (long) free * bufferBytes;
            int head = rx.add(List.of(), List.of(new DriverRing.Buffer(gpa, bufferBytes)));
            rxSlotByHead.put(head, free);
            slot++;
        }
        rx.kick();
    }

    private int firstFreeRxSlot(int hint) {
        for (int i = 0; i < rx.size(); i++) {
            int s = (hint + i) % rx.size();
            if (!rxSlotByHead.containsValue(s)) {
                return s;
            }
        }
        throw new IllegalStateException("no free RX slot");
    }

    /**
     * Waits for one received frame and re-posts its buffer.
     *
     * @param timeout the longest wait
     * @return the frame without the virtio-net header, or {@code null} on timeout
     * @throws IOException if waiting fails
     */
    public byte[] receive(Duration timeout) throws IOException {
        DriverRing.Used u = rx.awaitUsed(timeout);
        if (u == null) {
            return null;
        }
        Integer slot = rxSlotByHead.remove(u.head());
        if (slot == null) {
            throw new IllegalStateException("RX completion for head " + u.head() + " that was not posted");
        }
        long gpa = rxArea + (long) slot * bufferBytes;
        int length = (int) Math.min(u.length(), bufferBytes);
        byte[] frame = length > HEADER_BYTES
                ? memory.segment(gpa + HEADER_BYTES, length - HEADER_BYTES).toArray(ValueLayout.JAVA_BYTE)
                : new byte[0];
        int head = rx.add(List.of(), List.of(new DriverRing.Buffer(gpa, bufferBytes)));
        rxSlotByHead.put(head, slot);
        rx.kick();
        return frame;
    }
}
