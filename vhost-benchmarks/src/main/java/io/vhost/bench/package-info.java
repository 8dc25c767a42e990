/** JMH benchmarks of vhost-java; see docs/benchmarks.md for method and results. */
package io.vhost.bench;
