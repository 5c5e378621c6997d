import type { Express } from "express";
import supertest from "supertest";

/** Extracts the CSRF token a page rendered into its forms. */
export function csrfTokenFrom(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error("page has no CSRF token");
  return match[1];
}

/** A browser-like client: keeps its cookies and sends the CSRF token of its session with every form. */
export class TestAgent {
  readonly http: ReturnType<typeof supertest.agent>;
  private token: string | undefined;

  constructor(readonly app: Express) {
    this.http = supertest.agent(app);
  }

  get(url: string) {
    return this.http.get(url).set("Accept", "text/html");
  }

  /** Loads a page with a form and remembers its CSRF token. */
  async refreshToken(url = "/login"): Promise<string> {
    const res = await this.get(url);
    this.token = csrfTokenFrom(res.text);
    return this.token;
  }

  async post(url: string, fields: Record<string, string | string[]> = {}) {
    if (!this.token) await this.refreshToken();
    return this.http
      .post(url)
      .set("Accept", "text/html")
      .type("form")
      .send({ _csrf: this.token, ...fields });
  }

  /** Signs in through the real form; afterwards the agent carries the new session and its token. */
  async signIn(username: string, password: string) {
    await this.refreshToken("/login");
    const res = await this.post("/login", { username, password });
    if (res.status !== 303) throw new Error(`sign-in as ${username} failed with ${res.status}`);
    await this.refreshToken("/profile");
    return res;
  }
}

export async function signedInAgent(app: Express, user: { username: string; password: string }): Promise<TestAgent> {
  const agent = new TestAgent(app);
  await agent.signIn(user.username, user.password);
  return agent;
}

/**
 * An account whose password an administrator set, which is temporary (docs/domain.md, "Passwords and reset"): signs
 * in with it, chooses `ownPassword` on the page that leads to, then signs in with that.
 */
export async function signedInAfterChoosingOwnPassword(app: Express, user: { username: string; password: string }, ownPassword: string): Promise<TestAgent> {
  const first = new TestAgent(app);
  await first.refreshToken("/login");
  const res = await first.post("/login", { username: user.username, password: user.password });
  if (res.headers.location !== "/login/new-password") throw new Error(`sign-in as ${user.username} led to ${res.headers.location}, not to choosing a password`);
  await first.refreshToken("/login/new-password");
  const chosen = await first.post("/login/new-password", { newPassword: ownPassword, confirmPassword: ownPassword });
  if (chosen.status !== 303) throw new Error(`choosing a password for ${user.username} answered ${chosen.status}`);
  return signedInAgent(app, { username: user.username, password: ownPassword });
}
