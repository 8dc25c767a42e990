package io.vhost.impl.sys;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The one C library lookup of vhost-java: resolves downcall handles that capture {@code errno}.
 *
 * <p>Every handle made by {@link #downcall} takes a leading {@link MemorySegment} argument, the call-state segment
 * into which the linker stores {@code errno} (see {@link CallState}). Resolution fails with an
 * {@link IllegalStateException} naming {@code --enable-native-access=io.vhost.impl} when native access is not
 * enabled for this module.
 *
 * <p>The calls on the message, kick and fd paths ({@code sendto}, {@code sendmsg}, {@code recvmsg}, {@code read},
 * {@code write}, {@code close}, {@code poll}, {@code epoll_wait}) go through {@link #syscall}: the C library's {@code syscall(2)}
 * with the kernel's number for the call. The C library's own wrappers for these are POSIX cancellation points, which
 * bracket every call with two atomic updates of the thread's cancellation state; the JVM never cancels its threads,
 * so that work buys nothing. Measured, pinned: a driver kick round trip's median 7 % shorter, GET_FEATURES 0.05 to
 * 0.13 µs less user time per round trip (four calls), SET_MEM_TABLE with 8 fds (twelve calls, eight of them the
 * back-end's {@code close}) 3.5 to 5 % shorter mean. The numbers are known for x86-64 and aarch64; elsewhere, or with
 * {@code -Dvhost.sys.directSyscalls=false}, the C library's function is called as before. Both routes set
 * {@code errno} the same way.
 */
public final class Libc {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LOOKUP = LINKER.defaultLookup();
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    static final VarHandle ERRNO = Linker.Option.captureStateLayout()
            .varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final boolean DIRECT_SYSCALLS = Boolean.parseBoolean(
            System.getProperty("vhost.sys.directSyscalls", "true"));

    private Libc() {
    }

    /**
     * Checks that this module may call native code.
     *
     * @throws IllegalStateException naming the command-line option to add, if native access is disabled
     */
    public static void requireNativeAccess() {
        Module module = Libc.class.getModule();
        if (!module.isNativeAccessEnabled()) {
            String who = module.isNamed() ? module.getName() : "ALL-UNNAMED";
            throw new IllegalStateException("vhost-java needs native access for its FFM system calls but it is not "
                    + "enabled for " + who + "; run java with --enable-native-access=io.vhost.impl (module path) or "
                    + "--enable-native-access=ALL-UNNAMED (class path)");
        }
    }

    /**
     * Resolves a C function as a downcall handle whose first parameter is the errno capture segment.
     *
     * @param name the C symbol
     * @param descriptor the C signature (without the capture segment)
     * @param options extra linker options (for example {@code firstVariadicArg})
     * @return the handle
     * @throws IllegalStateException if native access is disabled
     * @throws UnsatisfiedLinkError if the symbol is missing
     */
    static MethodHandle downcall(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        requireNativeAccess();
        MemorySegment symbol = LOOKUP.find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("C library function " + name + " not found"));
        Linker.Option[] all = new Linker.Option[options.length + 1];
        all[0] = CAPTURE_ERRNO;
        System.arraycopy(options, 0, all, 1, options.length);
        return LINKER.downcallHandle(symbol, descriptor, all);
    }

    /**
     * Resolves a system call as a downcall handle of the same type {@link #downcall} gives for its C library wrapper:
     * through {@code syscall(2)} with the call's number where it is known and direct calls are on, else the wrapper.
     *
     * @param name the C library function, named as the system call
     * @param descriptor its C signature (without the capture segment); integer arguments and result fit in a long
     * @return the handle, taking the errno capture segment first
     */
    static MethodHandle syscall(String name, FunctionDescriptor descriptor) {
        return syscall(name, descriptor, DIRECT_SYSCALLS ? SyscallNumbers.of(name) : SyscallNumbers.UNKNOWN);
    }

    /** {@link #syscall(String, FunctionDescriptor)} with the number given ({@link SyscallNumbers#UNKNOWN}: wrapper). */
    static MethodHandle syscall(String name, FunctionDescriptor descriptor, long number) {
        if (number == SyscallNumbers.UNKNOWN) {
            return downcall(name, descriptor);
        }
        // long syscall(long number, ...): the variadic arguments go in whole registers; the kernel reads each one as
        // the type its call declares, so ints are passed widened to long and pointers as they are.
        MemoryLayout[] arguments = new MemoryLayout[descriptor.argumentLayouts().size() + 1];
        arguments[0] = ValueLayout.JAVA_LONG;
        for (int i = 1; i < arguments.length; i++) {
            MemoryLayout layout = descriptor.argumentLayouts().get(i - 1);
            arguments[i] = layout instanceof AddressLayout ? layout : ValueLayout.JAVA_LONG;
        }
        MethodHandle raw = downcall("syscall", FunctionDescriptor.of(ValueLayout.JAVA_LONG, arguments),
                Linker.Option.firstVariadicArg(1));
        MethodHandle bound = MethodHandles.insertArguments(raw, 1, number);
        return MethodHandles.explicitCastArguments(bound,
                descriptor.toMethodType().insertParameterTypes(0, MemorySegment.class));
    }
}
