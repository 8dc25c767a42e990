/**
 * Entry points of vhost-java: owned native handles ({@link io.vhost.api.Fd}) and the contracts that front-end
 * and back-end authors program against. Implementation classes live in {@code io.vhost.impl}.
 */
package io.vhost.api;
