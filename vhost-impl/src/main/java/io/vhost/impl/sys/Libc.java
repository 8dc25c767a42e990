package io.vhost.impl.sys;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The one C library lookup of vhost-java: resolves downcall handles that capture {@code errno}.
 *
 * <p>Every handle made by {@link #downcall} takes a leading {@link MemorySegment} argument, the call-state segment
 * into which the linker stores {@code errno} (see {@link CallState}). Resolution fails with an
 * {@link IllegalStateException} naming {@code --enable-native-access=io.vhost.impl} when native access is not
 * enabled for this module.
 */
public final class Libc {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LOOKUP = LINKER.defaultLookup();
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    static final VarHandle ERRNO = Linker.Option.captureStateLayout()
            .varHandle(MemoryLayout.PathElement.groupElement("errno"));

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
}
