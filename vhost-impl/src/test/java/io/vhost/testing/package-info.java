/**
 * Test fixtures shared by vhost-impl tests: the fd-leak extension ({@link io.vhost.testing.NoFdLeaks}).
 */
package io.vhost.testing;
