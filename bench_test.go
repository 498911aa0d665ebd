package main

import (
	"net/http"
	"testing"
)

// BenchmarkSignedInHome measures a whole signed-in request through the real router: session
// lookup and decryption in SQLite, CSRF data, rendering the invitation form.
func BenchmarkSignedInHome(b *testing.B) {
	h := start(b, nil, map[string]string{"PORTICO_LOG_LEVEL": "error"})
	br := h.browser()
	br.signIn("employee@contoso.example")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/", nil)
		resp, err := br.c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
