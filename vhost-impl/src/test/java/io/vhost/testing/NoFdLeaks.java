package io.vhost.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Fails a test class (and, with {@code eachTest = true}, each test) that leaves more file descriptors open in
 * {@code /proc/self/fd} than it found, naming each leaked fd's target.
 */
@Inherited
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@ExtendWith(FdLeakExtension.class)
public @interface NoFdLeaks {

    /**
     * Whether to check around every test method too, not only around the class.
     *
     * @return {@code true} to check per test
     */
    boolean eachTest() default false;
}
