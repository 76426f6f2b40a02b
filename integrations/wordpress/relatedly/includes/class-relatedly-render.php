<?php
/**
 * The related block on post pages: after the content (a `the_content` filter, on by default), where
 * the `[relatedly]` shortcode stands, or as the `relatedly/related` block. It is the service's
 * server-rendered fragment (`<aside class="relatedly">`), fetched with a short timeout and kept in a
 * transient; when the fragment cannot be had (the service is down, slow or has no model) the widget
 * script fills the block in the reader's browser instead, and after such a failure pages skip the
 * service for DOWN_SECONDS, so a stopped service never slows every page.
 *
 * @package Relatedly
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * The content filter, the shortcode and the block.
 */
final class Relatedly_Render {

	const CACHE_SECONDS  = 300; // The service's own Cache-Control max-age.
	const EMPTY_SECONDS  = 60;  // A post the service does not know yet (its delivery may be queued).
	const DOWN_SECONDS   = 30;
	const DOWN_TRANSIENT = 'relatedly_unreachable';
	const WIDGET_HANDLE  = 'relatedly-widget';
	const BLOCK_NAME     = 'relatedly/related';

	/**
	 * Posts whose block is already on this page (one block per post and page).
	 *
	 * @var array<int, true>
	 */
	private static $shown = array();

	/**
	 * Hooks the filter, the shortcode and the block.
	 */
	public static function register(): void {
		add_filter( 'the_content', array( __CLASS__, 'append_to_content' ), 20 );
		add_shortcode( 'relatedly', array( __CLASS__, 'shortcode' ) );
		add_action( 'init', array( __CLASS__, 'register_block' ) );
		add_filter( 'script_loader_tag', array( __CLASS__, 'defer_widget' ), 10, 2 );
	}

	/**
	 * `the_content`: the block after the main post's content on its own page.
	 *
	 * @param string $content The post content.
	 */
	public static function append_to_content( $content ) {
		$post = get_post();
		if ( ! $post instanceof WP_Post || ! self::is_main_content( $post ) || ! Relatedly_Settings::auto_insert( $post ) ) {
			return $content;
		}
		if ( has_shortcode( $post->post_content, 'relatedly' ) || has_block( self::BLOCK_NAME, $post ) ) {
			return $content; // The editor placed it.
		}
		return $content . self::markup( $post, array() );
	}

	/**
	 * `[relatedly limit="5" heading="More on this" id="123"]` (every attribute optional).
	 *
	 * @param array|string $atts Shortcode attributes.
	 */
	public static function shortcode( $atts ): string {
		$atts = shortcode_atts(
			array(
				'id'      => 0,
				'limit'   => 0,
				'heading' => '',
			),
			$atts,
			'relatedly'
		);
		$post = get_post( (int) $atts['id'] ? (int) $atts['id'] : null );
		return $post instanceof WP_Post ? self::markup( $post, $atts ) : '';
	}

	/**
	 * Registers the dynamic block (block.json; its editor script is plain JavaScript, no build step).
	 */
	public static function register_block(): void {
		register_block_type( RELATEDLY_PLUGIN_DIR . '/block', array( 'render_callback' => array( __CLASS__, 'render_block' ) ) );
	}

	/**
	 * The block's output for the post it stands in.
	 *
	 * @param array         $attributes Block attributes (limit, heading).
	 * @param string        $content    Inner content (none).
	 * @param WP_Block|null $block      The block instance, with the post in its context.
	 */
	public static function render_block( $attributes, $content = '', $block = null ): string {
		$post_id = ( $block instanceof WP_Block && isset( $block->context['postId'] ) ) ? (int) $block->context['postId'] : get_the_ID();
		$post    = get_post( $post_id );
		return $post instanceof WP_Post ? self::markup( $post, (array) $attributes ) : '';
	}

	/**
	 * Adds `defer` to the widget script's tag.
	 *
	 * @param string $tag    The script tag.
	 * @param string $handle Its handle.
	 */
	public static function defer_widget( $tag, $handle ) {
		return self::WIDGET_HANDLE === $handle ? str_replace( ' src=', ' defer src=', $tag ) : $tag;
	}

	/**
	 * Whether this `the_content` call renders the page's own post (not an excerpt, a feed, a REST
	 * answer or another post listed on the page).
	 *
	 * @param WP_Post $post The global post.
	 */
	private static function is_main_content( WP_Post $post ): bool {
		if ( is_admin() || is_feed() || ( defined( 'REST_REQUEST' ) && REST_REQUEST ) || doing_filter( 'get_the_excerpt' ) ) {
			return false;
		}
		return is_singular( Relatedly_Settings::post_types() ) && (int) $post->ID === (int) get_queried_object_id();
	}

	/**
	 * The block of a post: the fragment, the widget's placeholder when the fragment cannot be had, or
	 * nothing (a post that is not served, a second block of the same post, no service configured).
	 *
	 * @param WP_Post $post The post.
	 * @param array   $args `limit` and `heading`, empty for the settings' values.
	 */
	private static function markup( WP_Post $post, array $args ): string {
		if ( isset( self::$shown[ $post->ID ] ) || '' === Relatedly_Settings::service_url()
			|| ! Relatedly_Article::is_servable( $post ) || post_password_required( $post ) ) {
			return '';
		}
		self::$shown[ $post->ID ] = true;
		$query   = array( 'limit' => Relatedly_Settings::clamp_limit( (int) ( $args['limit'] ?? 0 ) ?: Relatedly_Settings::limit() ) );
		$heading = trim( (string) ( $args['heading'] ?? '' ) ) ?: Relatedly_Settings::heading();
		if ( '' !== $heading ) {
			$query['heading'] = $heading;
		}
		$article_id = Relatedly_Article::id( $post->ID );
		$fragment   = self::fragment( $article_id, $query );
		if ( null === $fragment ) {
			return self::widget( $article_id, $query );
		}
		if ( '' !== $fragment && apply_filters( 'relatedly_report_events', true ) ) {
			self::enqueue_widget(); // The widget reports impressions and clicks of server-rendered blocks.
		}
		return $fragment;
	}

	/**
	 * The fragment's HTML ('' for an article the service does not know), or null when it cannot be had.
	 *
	 * @param string $article_id The article id.
	 * @param array  $query      Fragment options.
	 */
	private static function fragment( string $article_id, array $query ): ?string {
		// One transient per post and options; a delivered change (a new generation) makes it stale.
		$generation = (string) get_option( Relatedly_Sync::GENERATION_OPTION, '' );
		$key        = 'relatedly_' . md5( $article_id . '|' . wp_json_encode( $query ) );
		$cached     = get_transient( $key );
		if ( is_array( $cached ) && isset( $cached['html'] ) && ( $cached['generation'] ?? null ) === $generation ) {
			return (string) $cached['html'];
		}
		if ( get_transient( self::DOWN_TRANSIENT ) ) {
			return null;
		}
		$answer = Relatedly_Client::fragment( $article_id, $query );
		if ( 200 === $answer->status || 404 === $answer->status ) { // 404: the service does not know the post (yet).
			$html  = 200 === $answer->status ? wp_kses( $answer->body, self::allowed_html() ) : '';
			$cache = array(
				'html'       => $html,
				'generation' => $generation,
			);
			set_transient( $key, $cache, 200 === $answer->status ? self::CACHE_SECONDS : self::EMPTY_SECONDS );
			return $html;
		}
		if ( 0 === $answer->status || $answer->status >= 500 ) {
			set_transient( self::DOWN_TRANSIENT, 1, self::DOWN_SECONDS );
		}
		return null;
	}

	/**
	 * The widget's placeholder and script, for the reader's browser to fill.
	 *
	 * @param string $article_id The article id.
	 * @param array  $query      Fragment options (the widget takes the same as data attributes).
	 */
	private static function widget( string $article_id, array $query ): string {
		self::enqueue_widget();
		$attributes = ' data-relatedly-article="' . esc_attr( $article_id ) . '" data-relatedly-limit="' . esc_attr( (string) $query['limit'] ) . '"';
		if ( isset( $query['heading'] ) ) {
			$attributes .= ' data-relatedly-heading="' . esc_attr( $query['heading'] ) . '"';
		}
		return '<div class="relatedly-widget"' . $attributes . '></div>';
	}

	/**
	 * Loads /v1/widget.js from the service's public URL.
	 */
	private static function enqueue_widget(): void {
		wp_enqueue_script( self::WIDGET_HANDLE, Relatedly_Settings::public_url() . '/v1/widget.js', array(), null, true ); // phpcs:ignore WordPress.WP.EnqueuedResourceParameters.MissingVersion -- the service versions it (ETag).
	}

	/**
	 * The markup the fragment may contain; anything else the service sent is dropped.
	 *
	 * @return array<string, array<string, bool>>
	 */
	private static function allowed_html(): array {
		$common = array(
			'class'  => true,
			'id'     => true,
			'data-*' => true,
		);
		return array(
			'aside' => $common + array( 'aria-labelledby' => true ),
			'h2'    => $common,
			'ul'    => $common,
			'li'    => $common,
			'a'     => $common + array( 'href' => true ),
			'img'   => $common + array(
				'src'      => true,
				'width'    => true,
				'height'   => true,
				'alt'      => true,
				'loading'  => true,
				'decoding' => true,
			),
			'span'  => $common,
			'time'  => $common + array( 'datetime' => true ),
		);
	}
}
