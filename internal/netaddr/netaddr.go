// Package netaddr holds small, pure helpers about network addresses that config and invite
// both need; it imports only the standard library, so using it adds no arrow between them.
package netaddr

import (
	"net/netip"
	"strings"
)

// IsLoopbackHost reports whether host (without port) is localhost or a loopback address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
