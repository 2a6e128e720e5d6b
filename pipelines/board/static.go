package board

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// assets is the page: index.html, board.js, board.css (plain files, no build step, nothing
// fetched from elsewhere).
//
//go:embed assets
var assets embed.FS

// ContentSecurityPolicy is sent with every HTML answer: the page loads scripts, styles, images
// and data from its own origin only, runs no inline script or style element, and cannot be framed.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// contentTypes are set explicitly for the page's own kinds of file (the system's MIME table
// may lack or differ for them).
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".json":  "application/json",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
}

// loadAssets reads the embedded files once, by their path under assets/.
var loadAssets = sync.OnceValue(func() map[string]asset {
	out := map[string]asset{}
	_ = fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		ext := strings.ToLower(path.Ext(p))
		ctype := contentTypes[ext]
		if ctype == "" {
			if ctype = mime.TypeByExtension(ext); ctype == "" {
				ctype = "application/octet-stream"
			}
		}
		sum := sha256.Sum256(body)
		out[strings.TrimPrefix(p, "assets/")] = asset{body: body, contentType: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	return out
})

// serveIndex answers GET /board and /board/ with the page.
func serveIndex(w http.ResponseWriter, r *http.Request) { serveFile(w, r, "index.html") }

// serveAsset answers GET /board/assets/{file...}.
func serveAsset(w http.ResponseWriter, r *http.Request) { serveFile(w, r, r.PathValue("file")) }

// serveFile serves an embedded file with its type, revalidated on every use (Cache-Control:
// no-cache with an ETag: a new binary's page is picked up at once, an unchanged one costs a
// 304), and with the content security policy when it is HTML.
func serveFile(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := loadAssets()[name]
	if !ok {
		writeError(w, http.StatusNotFound, "no such file")
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(a.contentType, "text/html") {
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
