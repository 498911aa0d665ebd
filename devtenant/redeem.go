package devtenant

import (
	"net/http"
	"time"
)

// handleRedeem is the invitation redemption page. GET only shows the consent page, so mail
// link scanners that fetch the link redeem nothing; the Accept button POSTs.
func (t *Tenant) handleRedeem(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		t.redeemError(w, "The invitation link is malformed.")
		return
	}
	tk := r.Form.Get("ticket")
	t.mu.Lock()
	ticket := t.tickets[tk]
	var (
		inv  *Invitation
		user *User
	)
	if ticket != nil && !ticket.used && r.Form.Get("user") == ticket.userID {
		user = t.users[ticket.userID]
		for _, i := range t.invitations {
			if i.ID == ticket.invitationID {
				inv = i
			}
		}
	}
	if user == nil || inv == nil {
		t.mu.Unlock()
		t.redeemError(w, "This invitation link is not valid, or it has already been used.")
		return
	}
	if r.Method != http.MethodPost {
		data := map[string]any{
			"Title": "Review permissions", "Org": orgDisplayName,
			"InviterName": inv.InvitedByName, "InviterUPN": inv.InvitedByUPN, "Email": inv.Email,
			"Tenant": t.opts.TenantID, "User": user.ID, "Ticket": tk,
		}
		t.mu.Unlock()
		t.renderPage(w, http.StatusOK, "redeem", data)
		return
	}
	ticket.used = true
	t.acceptLocked(user)
	now := t.now().UTC().Truncate(time.Second)
	inv.RedeemedAt = &now
	inv.Status = "Completed"
	redirect := ticket.redirect
	t.mu.Unlock()
	t.log.Info("devtenant: invitation redeemed", "invitation", inv.ID, "user", user.ID)
	noStore(w)
	http.Redirect(w, r, redirect, http.StatusFound)
}

func (t *Tenant) redeemError(w http.ResponseWriter, msg string) {
	t.renderPage(w, http.StatusBadRequest, "redeemerror", map[string]any{"Title": "Invitation link not valid", "Message": msg})
}
