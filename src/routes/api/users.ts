import { ValidationError } from "../../errors.ts";
import { apiUser } from "../../presenters/api.ts";
import { createUser, deleteUser, listUsersPage, readUser, setUserDisabled, updateUser } from "../../services/accounts.ts";
import { teamsOfUser } from "../../services/teams.ts";
import type { UserDetails } from "../../types/user.ts";
import { actorOf } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";
import { type Operation, operation, pageOf, pageWindow, send, sendPage } from "./operation.ts";
import { DeleteQuery, IdPath, MeView, UserCreateBody, UserListQuery, UserUpdateBody, UserView } from "./schemas.ts";

const TAG = "Users";

export function userOperations({ db, keys, mailOutbox, logger }: RouteDeps): Operation[] {
  /** The confirmation code for a new address goes out at once; the outbox retries it if the mail server is away. */
  const sendCode = (messageId: number | null) => {
    if (messageId !== null) mailOutbox.deliverNow(messageId).catch((err: unknown) => logger.warn({ err }, "confirmation code not sent yet"));
  };

  return [
    operation({
      method: "get",
      path: "/me",
      operationId: "getMe",
      summary: "The account the token acts for",
      tag: TAG,
      access: "token",
      responses: { 200: { description: "The token's owner, with the teams it belongs to.", schema: MeView } },
      handler: async (req, res) => {
        const me = req.user!;
        send(res, 200, MeView, { ...apiUser(me), teams: await teamsOfUser(db, actorOf(req), me.id) });
      },
    }),

    operation({
      method: "get",
      path: "/users",
      operationId: "listUsers",
      summary: "List users",
      description: "Administrators get every account; anyone else gets a list holding only their own.",
      tag: TAG,
      access: "token",
      query: UserListQuery,
      responses: { 200: { description: "One page of users.", schema: pageOf(UserView) } },
      handler: async (req, res, { query }) => {
        const { users, total } = await listUsersPage(db, actorOf(req), { search: query.q, sort: query.sort, direction: query.dir, ...pageWindow(query) });
        sendPage(res, UserView, users.map(apiUser), total, query);
      },
    }),

    operation({
      method: "post",
      path: "/users",
      operationId: "createUser",
      summary: "Create a user",
      description: "A password given here is temporary: the account replaces it at its first sign-in.",
      tag: TAG,
      access: "admin",
      body: UserCreateBody,
      responses: { 201: { description: "The new account.", schema: UserView }, 409: { description: "The username or email is taken." } },
      handler: async (req, res, { body }) => {
        const details: UserDetails = {
          username: body.username,
          fullName: body.fullName,
          title: body.title,
          email: body.email ?? null,
          phone: body.phone,
          isAdmin: body.isAdmin,
          authSource: body.authSource,
        };
        const { user, verificationMessageId } = await createUser(db, actorOf(req), { details, password: body.password, verifyEmailWith: keys });
        sendCode(verificationMessageId);
        res.location(`/api/v1/users/${user.id}`);
        send(res, 201, UserView, apiUser(user));
      },
    }),

    operation({
      method: "get",
      path: "/users/:id",
      operationId: "getUser",
      summary: "Read a user",
      description: "Anyone but an administrator can read only their own account; any other id is not found.",
      tag: TAG,
      access: "token",
      params: IdPath,
      responses: { 200: { description: "The account.", schema: UserView } },
      handler: async (req, res, { params }) => send(res, 200, UserView, apiUser(await readUser(db, actorOf(req), params.id))),
    }),

    operation({
      method: "patch",
      path: "/users/:id",
      operationId: "updateUser",
      summary: "Change a user",
      description:
        "Send version and only the fields to change. `disabled` is sent on its own (with version). A role change, a new password or disabling ends the account's sessions. A password set for another account than the token's own is temporary: the account replaces it at its next sign-in.",
      tag: TAG,
      access: "admin",
      params: IdPath,
      body: UserUpdateBody,
      responses: { 200: { description: "The account as saved.", schema: UserView }, 409: { description: "Changed by someone else since `version`, or a rule refused it (the last administrator)." } },
      handler: async (req, res, { params, body }) => {
        const { version, disabled, password, ...changes } = body;
        const current = await readUser(db, actorOf(req), params.id);
        if (disabled !== undefined) {
          if (password !== undefined || Object.values(changes).some((v) => v !== undefined))
            throw new ValidationError({ disabled: "Send disabled on its own, with version; change the other fields in another request." }, undefined, 400);
          return send(res, 200, UserView, apiUser(await setUserDisabled(db, actorOf(req), params.id, version, disabled)));
        }
        const details: UserDetails = {
          username: changes.username ?? current.username,
          fullName: changes.fullName ?? current.fullName,
          title: changes.title ?? current.title,
          email: changes.email === undefined ? current.email : changes.email,
          phone: changes.phone ?? current.phone,
          isAdmin: changes.isAdmin ?? current.isAdmin,
          authSource: changes.authSource ?? current.authSource,
        };
        const { user, verificationMessageId } = await updateUser(db, actorOf(req), params.id, { version, details, password, verifyEmailWith: keys });
        sendCode(verificationMessageId);
        send(res, 200, UserView, apiUser(user));
      },
    }),

    operation({
      method: "delete",
      path: "/users/:id",
      operationId: "deleteUser",
      summary: "Delete a user",
      tag: TAG,
      access: "admin",
      params: IdPath,
      query: DeleteQuery,
      responses: { 204: { description: "Deleted." }, 409: { description: "Changed since `version`, or the last administrator, or your own account." } },
      handler: async (req, res, { params, query }) => {
        const current = await readUser(db, actorOf(req), params.id);
        await deleteUser(db, actorOf(req), params.id, query.version ?? current.version);
        res.status(204).end();
      },
    }),
  ];
}
