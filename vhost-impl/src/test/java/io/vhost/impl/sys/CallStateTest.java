package io.vhost.impl.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.NativeCallException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The one place that reads a count-returning call's result: count, EAGAIN, EINTR, failure. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class CallStateTest {

    @Test
    void countsPassEagainIsMinusOneEintrRetriesAndOtherErrorsThrowNamingTheCall() throws Exception {
        CallState cs = CallState.current();
        Libc.ERRNO.set(cs.errnoSegment, 0L, Errno.EBADF); // a stale errno must not matter when the call succeeded
        assertEquals(12, cs.countOrEagain(12, "sendto", 5));
        assertEquals(0, cs.countOrEagain(0, "recvmsg", 5), "0 is end of stream, not an error");
        Libc.ERRNO.set(cs.errnoSegment, 0L, Errno.EAGAIN);
        assertEquals(-1, cs.countOrEagain(-1, "recvmsg", 5));
        Libc.ERRNO.set(cs.errnoSegment, 0L, Errno.EINTR);
        assertEquals(CallState.RETRY, cs.countOrEagain(-1, "write", 5));
        Libc.ERRNO.set(cs.errnoSegment, 0L, Errno.EPIPE);
        NativeCallException e = assertThrows(NativeCallException.class, () -> cs.countOrEagain(-1, "sendto", 17));
        assertTrue(e.getMessage().contains("sendto") && e.getMessage().contains("17")
                && e.getMessage().contains("EPIPE"), e.getMessage());
    }
}
