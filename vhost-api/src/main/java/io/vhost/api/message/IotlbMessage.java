package io.vhost.api.message;

import java.util.Objects;

/**
 * A device IOTLB message ({@code struct vhost_iotlb_msg}): the payload of {@code IOTLB_MSG} and
 * {@code BACKEND_IOTLB_MSG}; 26 bytes of fields padded to 32.
 *
 * @param iova I/O virtual address
 * @param sizeBytes size of the range
 * @param userAddress front-end user address (guest address with GPA_ADDRESSES, except on the back-end channel)
 * @param perm access permissions
 * @param type message type
 */
public record IotlbMessage(long iova, long sizeBytes, long userAddress, Perm perm, Type type) {

    /** Checks the fields are given and that iova + size does not wrap. */
    public IotlbMessage {
        Objects.requireNonNull(perm, "perm");
        Objects.requireNonNull(type, "type");
        Check.noWrap("iotlb", "iova", iova, sizeBytes);
    }

    /** IOTLB access permissions, with their wire values. */
    public enum Perm {
        /** 0: no access. */
        NONE,
        /** 1: read. */
        RO,
        /** 2: write. */
        WO,
        /** 3: read and write. */
        RW;

        /**
         * Returns the u8 wire value.
         *
         * @return 0..3
         */
        public int wire() {
            return ordinal();
        }

        /**
         * Decodes a wire value.
         *
         * @param v the u8
         * @return the permission
         * @throws IllegalArgumentException if v is not 0..3
         */
        public static Perm fromWire(int v) {
            if (v < 0 || v > 3) {
                throw new IllegalArgumentException("iotlb perm " + v + " is not 0..3");
            }
            return values()[v];
        }
    }

    /** IOTLB message types, with their wire values (1..4). */
    public enum Type {
        /** 1: the back-end missed a translation. */
        MISS,
        /** 2: the front-end adds a translation. */
        UPDATE,
        /** 3: the front-end removes translations. */
        INVALIDATE,
        /** 4: the back-end reports a permission failure. */
        ACCESS_FAIL;

        /**
         * Returns the u8 wire value.
         *
         * @return 1..4
         */
        public int wire() {
            return ordinal() + 1;
        }

        /**
         * Decodes a wire value.
         *
         * @param v the u8
         * @return the type
         * @throws IllegalArgumentException if v is not 1..4
         */
        public static Type fromWire(int v) {
            if (v < 1 || v > 4) {
                throw new IllegalArgumentException("iotlb type " + v + " is not 1..4");
            }
            return values()[v - 1];
        }
    }
}
