package graph_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"golang.org/x/oauth2"

	"portico/graph"
)

func ExampleClient_CreateInvitation() {
	// A stand-in for Graph; in Portico the base URL is https://graph.microsoft.com (or devtenant).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("request-id", "3b1c5d2e-0000-4000-8000-00000000abcd")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"inv-1","status":"PendingAcceptance","invitedUser":{"id":"user-1"},
			"invitedUserEmailAddress":"taylor@fabrikam.example","sendInvitationMessage":true}`)
	}))
	defer srv.Close()

	c := graph.NewClient(srv.URL, srv.Client())
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "delegated-token"}) // the signed-in user's
	ctx := graph.WithPriority(context.Background(), "high")
	inv, err := c.CreateInvitation(ctx, ts, &graph.Invitation{
		InvitedUserEmailAddress: "taylor@fabrikam.example",
		InviteRedirectURL:       "https://portal.contoso.example/welcome",
		SendInvitationMessage:   true,
		InvitedUserMessageInfo: &graph.MessageInfo{
			CustomizedMessageBody: "Welcome to the project space.",
			CCRecipients:          []graph.Recipient{{EmailAddress: graph.EmailAddress{Address: "megan@contoso.example"}}},
		},
	})
	var ge *graph.Error
	switch {
	case errors.Is(err, graph.ErrUncertain):
		fmt.Println("unknown outcome: look the address up before sending again")
	case errors.As(err, &ge):
		fmt.Println("Graph refused:", ge.Code, "request id", ge.RequestID)
	case err != nil:
		fmt.Println("failed:", err)
	default:
		fmt.Println(inv.Status, inv.InvitedUser.ID, inv.RequestID)
	}
	// Output: PendingAcceptance user-1 3b1c5d2e-0000-4000-8000-00000000abcd
}
