package io.vhost.api.message;

import java.util.Objects;

/**
 * The device state transfer parameters of {@code SET_DEVICE_STATE_FD}: direction u32, phase u32.
 *
 * @param direction save (0) or load (1)
 * @param phase the migration phase (only 0, stopped, is defined)
 */
public record DeviceStateParams(Direction direction, Phase phase) {

    /** Checks both are given. */
    public DeviceStateParams {
        Objects.requireNonNull(direction, "direction");
        Objects.requireNonNull(phase, "phase");
    }

    /** Transfer direction; the ordinal is the wire value. */
    public enum Direction {
        /** 0: back-end to front-end (migration source). */
        SAVE,
        /** 1: front-end to back-end (migration destination). */
        LOAD;

        /**
         * Decodes a wire value.
         *
         * @param v the u32
         * @return the direction
         * @throws IllegalArgumentException for any value but 0 and 1
         */
        public static Direction fromWire(long v) {
            if (v != 0 && v != 1) {
                throw new IllegalArgumentException("device state direction " + v + " is neither 0 (save) nor 1 (load)");
            }
            return values()[(int) v];
        }
    }

    /** Migration phase; the ordinal is the wire value. */
    public enum Phase {
        /** 0: the VM is stopped and the device suspended. */
        STOPPED;

        /**
         * Decodes a wire value.
         *
         * @param v the u32
         * @return the phase
         * @throws IllegalArgumentException for any value but 0
         */
        public static Phase fromWire(long v) {
            if (v != 0) {
                throw new IllegalArgumentException("device state phase " + v + " is not 0 (stopped)");
            }
            return STOPPED;
        }
    }
}
