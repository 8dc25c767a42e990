package io.vhost.impl.sys;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import io.vhost.impl.transport.Connection;
import io.vhost.testing.NoFdLeaks;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code io.vhost.impl.sys} depends on nothing of ours except {@code io.vhost.api}. */
@NoFdLeaks
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ArchitectureTest {

    private static final JavaClasses CLASSES = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("io.vhost");

    @Test
    void sysDependsOnlyOnTheApi() {
        assertTrue(CLASSES.contain(Sockets.class) && CLASSES.contain(Connection.class), "classes were not imported");
        noClasses().that().resideInAPackage("io.vhost.impl.sys..")
                .should().dependOnClassesThat(resideInAPackage("io.vhost..")
                        .and(not(resideInAnyPackage("io.vhost.impl.sys..", "io.vhost.api.."))))
                .check(CLASSES);
    }

    @Test
    void theRuleWouldCatchAViolation() {
        // transport depends on sys and poll: the same rule applied to it must fail, so the rule above can fail too.
        assertThrows(AssertionError.class, () -> noClasses().that().resideInAPackage("io.vhost.impl.transport..")
                .should().dependOnClassesThat(resideInAPackage("io.vhost..")
                        .and(not(resideInAnyPackage("io.vhost.impl.transport..", "io.vhost.api.."))))
                .check(CLASSES));
    }
}
