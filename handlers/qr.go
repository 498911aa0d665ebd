package handlers

import (
	"strconv"
	"strings"

	"rsc.io/qr"

	"portico/views"
)

// qrFor renders text as a QR code in SVG path form: one horizontal run per "M x y h n v1 h-n z",
// which keeps the markup a couple of kilobytes. A 4-module quiet zone surrounds the code.
func qrFor(text string) views.QR {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return views.QR{}
	}
	const quiet = 4
	var b strings.Builder
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; {
			if !code.Black(x, y) {
				x++
				continue
			}
			start := x
			for x < code.Size && code.Black(x, y) {
				x++
			}
			n := strconv.Itoa(x - start)
			b.WriteString("M" + strconv.Itoa(start+quiet) + " " + strconv.Itoa(y+quiet) + "h" + n + "v1h-" + n + "z")
		}
	}
	return views.QR{Size: code.Size + 2*quiet, Path: b.String()}
}
