package io.vhost.impl.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.vhost.api.error.NativeCallException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/** {@code ioctl(2)}, variadic third argument as a pointer or as an integer. */
public final class Ioctl {

    private static final MethodHandle IOCTL_PTR = Libc.downcall("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle IOCTL_LONG = Libc.downcall("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), Linker.Option.firstVariadicArg(2));

    private Ioctl() {
    }

    /**
     * Calls {@code ioctl(fd, request, arg)} with a pointer argument, retrying {@code EINTR}.
     *
     * @param fd the descriptor
     * @param request the request code
     * @param arg the struct passed by address (kept reachable for the call)
     * @param name the request's name for error messages, for example {@code "VHOST_SET_OWNER"}
     * @return the non-negative result
     * @throws NativeCallException naming the request and fd
     */
    public static int ioctl(int fd, long request, MemorySegment arg, String name) throws NativeCallException {
        CallState cs = CallState.current();
        try {
            while (true) {
                int r = (int) IOCTL_PTR.invokeExact(cs.errnoSegment, fd, request, arg);
                if (r >= 0) {
                    return r;
                }
                if (cs.errno() != Errno.EINTR) {
                    throw Errno.failure("ioctl", "(" + name + ", fd=" + fd + ")", cs.errno());
                }
            }
        } catch (NativeCallException e) {
            throw e;
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
    }

    /**
     * Calls {@code ioctl(fd, request, arg)} with an integer argument, retrying {@code EINTR}.
     *
     * @param fd the descriptor
     * @param request the request code
     * @param arg the value
     * @param name the request's name for error messages
     * @return the non-negative result
     * @throws NativeCallException naming the request and fd
     */
    public static int ioctl(int fd, long request, long arg, String name) throws NativeCallException {
        CallState cs = CallState.current();
        try {
            while (true) {
                int r = (int) IOCTL_LONG.invokeExact(cs.errnoSegment, fd, request, arg);
                if (r >= 0) {
                    return r;
                }
                if (cs.errno() != Errno.EINTR) {
                    throw Errno.failure("ioctl", "(" + name + ", fd=" + fd + ")", cs.errno());
                }
            }
        } catch (NativeCallException e) {
            throw e;
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
    }
}
