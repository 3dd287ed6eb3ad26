-- Connect sessions: the exact origins a platform's return URLs may use (space-separated,
-- empty: none), and the platform URL a sign-in ends at (NULL: the local return_path).
ALTER TABLE orgs ADD COLUMN allowed_return_origins TEXT NOT NULL DEFAULT '';
ALTER TABLE sign_in_tickets ADD COLUMN return_url TEXT;
ALTER TABLE oauth_flows ADD COLUMN return_url TEXT;
