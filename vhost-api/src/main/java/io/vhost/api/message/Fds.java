package io.vhost.api.message;

/**
 * How many file descriptors a message or reply carries in its SCM_RIGHTS ancillary data.
 */
public enum Fds {
    /** No fd; any received fd is closed and the message rejected. */
    NONE(0, 0, "0"),
    /** Exactly one fd. */
    EXACTLY_ONE(1, 1, "1"),
    /** One fd unless the payload's no-fd bit (bit 8 of the u64) is set, then none. */
    ONE_UNLESS_NOFD(0, 1, "1 unless NOFD"),
    /** One fd per memory region, in region order. */
    ONE_PER_REGION(1, 8, "1 per region"),
    /** No fd should be sent, but one is accepted and closed by the receiver ({@code REM_MEM_REG}). */
    ZERO_OR_ONE_CLOSED(0, 1, "0 (1 accepted, closed)"),
    /** Zero or one fd (optional fd in a reply). */
    ZERO_OR_ONE(0, 1, "0 or 1");

    private final int min;
    private final int max;
    private final String rule;

    Fds(int min, int max, String rule) {
        this.min = min;
        this.max = max;
        this.rule = rule;
    }

    /**
     * Returns the fewest fds a valid message may carry.
     *
     * @return the minimum count
     */
    public int min() {
        return min;
    }

    /**
     * Returns the most fds a valid message may carry.
     *
     * @return the maximum count
     */
    public int max() {
        return max;
    }

    /**
     * Describes the rule for documentation.
     *
     * @return e.g. {@code 1 unless NOFD}
     */
    public String rule() {
        return rule;
    }
}
